"""The personal-data vault lives in ``shared.vault`` (every service seals with it)."""

from shared.vault import Vault, VaultError

__all__ = ["Vault", "VaultError"]
