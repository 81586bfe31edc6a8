"""Identity rules. No I/O: secrets, hashes, keys and token claims from values."""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.access import Area, Role
from shared.tokens import ALGORITHM, AUDIENCE, ISSUER

PROVINCE_CODE = re.compile(r"^[0-9]{2}$")
WARD_CODE = re.compile(r"^[0-9]{5}$")
SIG, ENC = "sig", "enc"
ENCRYPTION_ALGORITHM = "ECDH-ES+A256KW"
"""What agency systems encrypt submissions with (JWE, with ``A256GCM``): see docs/submissions.md."""
KEY_OVERLAP = timedelta(minutes=5)
"""A retired key stays published this long after the last token it signed could expire."""

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(32))


class IdentityError(ValueError):
    """A request about clients that cannot be honoured; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    agency: str
    role: Role
    area: Area
    active: bool
    created_at: datetime
    revoked_at: datetime | None = None
    secret_rotated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One of intake's key pairs: it signs tokens (``sig``) or opens submissions (``enc``)."""

    kid: str
    private_pem: str
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None = None
    use: str = SIG


def new_client(
    agency: str, role: str, province: str | None, ward: str | None, now: datetime
) -> Client:
    agency = agency.strip()
    if not agency:
        raise IdentityError("agency must not be empty")
    try:
        parsed_role = Role(role)
    except ValueError:
        raise IdentityError(f"role must be one of {', '.join(Role)}") from None
    if province is not None and not PROVINCE_CODE.match(province):
        raise IdentityError("province must be a two-digit province code")
    if ward is not None and not WARD_CODE.match(ward):
        raise IdentityError("ward must be a five-digit commune code")
    if ward is not None and province is None:
        raise IdentityError("a commune-scoped client needs its province too")
    return Client(
        client_id=f"sr-{secrets.token_hex(8)}",
        agency=agency,
        role=parsed_role,
        area=Area(province, ward),
        active=True,
        created_at=now,
    )


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def secret_matches(secret_hash: str | None, secret: str) -> bool:
    """Constant work whether or not the client exists, so timing tells nothing."""
    try:
        return _hasher.verify(secret_hash or _DUMMY_HASH, secret) and secret_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_signing_key(now: datetime, use: str = SIG) -> SigningKey:
    """A P-256 key pair: ES256 for signing tokens, ECDH-ES for submissions sent to intake."""
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"{'enc-' if use == ENC else ''}{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk |= {"kid": kid, "use": use, "alg": ALGORITHM if use == SIG else ENCRYPTION_ALGORITHM}
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SigningKey(kid=kid, private_pem=pem, public_jwk=jwk, created_at=now, use=use)


def signing_key(keys: list[SigningKey]) -> SigningKey | None:
    """The newest key not retired: the one that signs new tokens."""
    current = [key for key in keys if key.retired_at is None]
    return max(current, key=lambda key: key.created_at) if current else None


def published_keys(keys: list[SigningKey], now: datetime, token_ttl: timedelta) -> list[SigningKey]:
    """Keys verifiers must know: current ones, and retired ones whose tokens may still be live."""
    return [
        key
        for key in keys
        if key.retired_at is None or now - key.retired_at < token_ttl + KEY_OVERLAP
    ]


def opening_keys(keys: list[SigningKey], now: datetime, max_age: timedelta) -> list[SigningKey]:
    """Encryption keys that may open a submission still waiting: current ones, and retired
    ones for as long as a submission may wait (an agency may still hold them that long)."""
    return [key for key in keys if key.retired_at is None or now - key.retired_at < max_age]


def token_claims(client: Client, now: datetime, ttl: timedelta) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": secrets.token_hex(16),
        "role": str(client.role),
        "agency": client.agency,
    }
    if client.area.province:
        claims["province"] = client.area.province
    if client.area.ward:
        claims["ward"] = client.area.ward
    return claims
