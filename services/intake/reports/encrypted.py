"""Submissions arrive encrypted to intake, so the personal data in them is unreadable on the
stream and in Redis's append-only file: a JWE in compact form (RFC 7516), ``ECDH-ES+A256KW``
or ``ECDH-ES`` with ``A256GCM``, to the ``use: enc`` key intake publishes in its JWKS.

Only intake holds the private keys (in its key table, kept like its token signing keys). A
retired key still opens submissions for the submissions' maximum age. A plaintext body is
refused (``not_encrypted``) unless plaintext is accepted for a migration window.
"""

import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from services.intake.reports.domain import Problem

ALGORITHMS = ("ECDH-ES+A256KW", "ECDH-ES", "A256GCM")
"""Nothing else is accepted: no other key agreement, no compression (``zip``)."""
MEDIA_TYPE = "application/jose"
KEYS_REFRESH_S = 60.0
UNKNOWN_KID_REFETCH_S = 1.0

KeyFetcher = Callable[[], Awaitable[dict[str, str]]]
"""Key id → private key (PEM) of every key that may open a submission now."""


class Unopened(Exception):
    """A submission body that cannot be read; ``problem`` says why, with no data in it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.code)
        self.problem = problem


NOT_ENCRYPTED = Problem(
    "data", "is not encrypted to intake's key (a JWE; see docs/submissions.md)", "not_encrypted"
)
UNKNOWN_KEY = Problem(
    "data", "is encrypted to a key intake does not hold (any more): fetch intake's JWKS again "
    "and encrypt to its use=enc key", "unknown_key",
)  # fmt: skip
UNDECRYPTABLE = Problem(
    "data", "could not be decrypted: damaged, or not encrypted to intake's key", "undecryptable"
)


class Opener:
    """Opens submission bodies with intake's encryption keys (cached, refetched on a new kid)."""

    def __init__(self, keys: KeyFetcher, *, accept_plaintext: bool, max_bytes: int) -> None:
        self._fetch = keys
        self.accept_plaintext = accept_plaintext
        self._registry = jwe.JWERegistry(algorithms=list(ALGORITHMS))
        # base64url makes the ciphertext a third longer than the body it carries
        self._registry.max_ciphertext_length = max_bytes
        self._keys: dict[str, ECKey] = {}
        self._fetched_at = float("-inf")

    async def open(self, data: object) -> str:
        """The body as sent, decrypted; :class:`Unopened` if it cannot or may not be read."""
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data or "")
        compact = text.strip()
        header = _jwe_header(compact)
        if header is None:
            if self.accept_plaintext:
                return text
            raise Unopened(NOT_ENCRYPTED)
        key = await self._key(header.get("kid"))
        if key is None:
            raise Unopened(UNKNOWN_KEY)
        try:
            opened = jwe.decrypt_compact(compact, key, registry=self._registry)
            return (opened.plaintext or b"").decode()
        except (JoseError, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise Unopened(UNDECRYPTABLE) from None

    async def _key(self, kid: object) -> ECKey | None:
        if not isinstance(kid, str):
            return None
        since = time.monotonic() - self._fetched_at
        stale = since > KEYS_REFRESH_S  # so a key retired past the maximum age stops opening
        if stale or (kid not in self._keys and since > UNKNOWN_KID_REFETCH_S):
            self._fetched_at = time.monotonic()
            pems = await self._fetch()
            self._keys = {k: ECKey.import_key(pem) for k, pem in pems.items()}
        return self._keys.get(kid)


def _jwe_header(text: str) -> dict[str, object] | None:
    """The protected header if ``text`` has the shape of a compact JWE, else None."""
    parts = text.split(".")
    if len(parts) != 5:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return header if isinstance(header, dict) and "enc" in header else None
