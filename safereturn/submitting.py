"""Publishing a submission as an agency system does: the body encrypted to intake's key (JWE),
then one CloudEvent added to the submissions stream. The demo and the tests publish this way;
docs/submissions.md shows the same with the JOSE library alone."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc import jwe
from joserfc.jwk import ECKey

ALGORITHM = "ECDH-ES+A256KW"
ENCRYPTION = "A256GCM"
MEDIA_TYPE = "application/jose"


def encryption_key(jwks: dict[str, Any]) -> ECKey:
    """The key intake publishes for submissions: the ``use: enc`` one in its JWKS."""
    found = [key for key in jwks.get("keys", []) if key.get("use") == "enc"]
    if not found:
        raise LookupError("intake publishes no encryption key (use: enc) yet")
    return ECKey.import_key(found[-1])


def fetch_encryption_key(intake_url: str) -> ECKey:
    response = httpx.get(f"{intake_url}/.well-known/jwks.json", timeout=10.0)
    response.raise_for_status()
    return encryption_key(response.json())


def encrypt(body: object, key: ECKey) -> str:
    """``body`` (JSON, or text as it is) in JWE compact form, readable by intake alone."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    header = {"alg": ALGORITHM, "enc": ENCRYPTION, "kid": key.kid, "cty": "application/json"}
    return jwe.encrypt_compact(header, text.encode(), key)


def submission_fields(
    event_type: str, body: object, token: str | None, key: ECKey, *, event_id: str, source: str
) -> dict[str, str]:
    """The stream entry: CloudEvents attributes as fields, the token, the encrypted body."""
    fields = {
        "specversion": "1.0", "id": event_id, "source": source, "type": event_type,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": MEDIA_TYPE, "data": encrypt(body, key),
    }  # fmt: skip
    if token:
        fields["authorization"] = f"Bearer {token}"
    return fields
