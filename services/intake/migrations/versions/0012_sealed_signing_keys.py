"""Token signing keys are sealed with the vault (private and public halves together, bound to
their key id): the database alone no longer holds a key that signs tokens.

Revision ID: 0012
"""

import json
from typing import Any

from shared.migrations import seal_column

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _key(row: Any) -> dict[str, Any]:
    jwk = row["public_jwk"]
    return {"pem": row["private_pem"], "jwk": json.loads(jwk) if isinstance(jwk, str) else jwk}


def upgrade() -> None:
    seal_column("signing_keys", "kid", "private_pem", lambda row: f"signing-key:{row['kid']}",
                opened=_key)  # fmt: skip


def downgrade() -> None:
    raise NotImplementedError("sealed keys are not written back in clear")
