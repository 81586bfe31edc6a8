"""A service's vault: AES-GCM with a key id per sealed value, a keyed blind index, and the
key of its audit chain — all kept outside the database.

Personal data, free-text notes and secrets (token signing keys, webhook secrets) are sealed
before they reach the database; the row's identity is bound in as associated data, so a
sealed value moved to another row does not open. Keys live in a JSON keyring file (a mounted
secret in production; made on first start in embedded mode, readable by its owner only):
``{"active": kid, "keys": {kid: base64}, "index_key": base64, "chain_key": base64}``.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class VaultError(RuntimeError):
    """A sealed value cannot be opened (unknown key id, or altered)."""


def vault_of(session: Any) -> "Vault":
    """The vault attached to a session's database (``Database.attach_vault``)."""
    provider = session.info.get("vault")
    if provider is None:
        raise VaultError("this database has no vault attached")
    vault: Vault = provider()
    return vault


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Vault:
    def __init__(
        self,
        keys: dict[str, bytes],
        active: str,
        index_key: bytes,
        path: Path | None = None,
        chain_key: bytes | None = None,
    ) -> None:
        if active not in keys:
            raise VaultError("the active key is not in the keyring")
        self.keys = keys
        self.active = active
        self.index_key = index_key
        # A keyring made before the audit chain was keyed has none: see ``load``.
        self.chain_key = chain_key or b""
        self.path = path
        self._loaded_at = path.stat().st_mtime_ns if path else 0

    @classmethod
    def load(cls, path: Path, *, create: bool) -> "Vault":
        if not path.exists():
            if not create:
                raise VaultError(f"no vault keyring at {path}")
            cls.write(path, cls.new_keyring())
        document = json.loads(path.read_text())
        if "chain_key" not in document:  # a keyring from before the audit chain was keyed
            if not create:
                raise VaultError(f"the keyring at {path} has no audit chain key")
            document["chain_key"] = _b64(secrets.token_bytes(32))
            cls.write(path, document)
        keys = {kid: _unb64(key) for kid, key in document["keys"].items()}
        return cls(keys, document["active"], _unb64(document["index_key"]), path,
                   _unb64(document["chain_key"]))  # fmt: skip

    def reload_if_changed(self) -> bool:
        """Pick up a rotated keyring (``safereturn vault rotate``) without a restart."""
        if self.path is None or self.path.stat().st_mtime_ns == self._loaded_at:
            return False
        fresh = Vault.load(self.path, create=False)
        self.keys, self.active, self._loaded_at = fresh.keys, fresh.active, fresh._loaded_at
        return True

    @staticmethod
    def new_keyring() -> dict[str, Any]:
        kid = f"k{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
        return {
            "active": kid,
            "keys": {kid: _b64(AESGCM.generate_key(bit_length=256))},
            "index_key": _b64(secrets.token_bytes(32)),
            "chain_key": _b64(secrets.token_bytes(32)),
        }

    @staticmethod
    def write(path: Path, keyring: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(keyring, out, indent=2)
        temporary.replace(path)

    @staticmethod
    def add_key(path: Path) -> str:
        """Add a new key to the keyring file and make it the active one; its id."""
        keyring = json.loads(path.read_text())
        fresh = Vault.new_keyring()
        if set(fresh["keys"]) & set(keyring["keys"]):
            raise VaultError("a new key id collides with an existing one; try again")
        keyring["keys"] |= fresh["keys"]
        keyring["active"] = fresh["active"]
        Vault.write(path, keyring)
        return str(fresh["active"])

    def seal_text(self, value: str | None, context: str) -> str | None:
        """A free-text value sealed (None stays None)."""
        return None if value is None else self.seal({"text": value}, context)

    def open_text(self, sealed: str | None, context: str) -> str | None:
        return None if sealed is None else str(self.open(sealed, context)["text"])

    def seal(self, data: dict[str, Any], context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        plain = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, plain, context.encode())
        return f"{self.active}.{_b64(nonce)}.{_b64(sealed)}"

    def open(self, sealed: str, context: str) -> dict[str, Any]:
        kid, nonce, body = sealed.split(".")
        if kid not in self.keys and not self.reload_if_changed():
            raise VaultError(f"unknown vault key {kid}")
        if kid not in self.keys:
            raise VaultError(f"unknown vault key {kid}")
        try:
            plain = AESGCM(self.keys[kid]).decrypt(_unb64(nonce), _unb64(body), context.encode())
        except Exception as error:
            raise VaultError("a sealed value does not open") from error
        opened: dict[str, Any] = json.loads(plain)
        return opened

    def key_of(self, sealed: str) -> str:
        return sealed.split(".", 1)[0]

    def blind_index(self, value: str) -> str:
        """Equal values give equal indexes; the index reveals nothing without the key."""
        normalised = "".join(value.split()).upper()
        return hmac.new(self.index_key, normalised.encode(), hashlib.sha256).hexdigest()
