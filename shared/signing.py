"""Signed events: a consumer applies an event only if the service allowed to produce its type
signed it.

Every service shares ``safereturn:{cases}``, and Redis ACLs grant XADD per key, not per event
type: any service could otherwise publish another's ``case.identified`` or
``support.disbursed``. So each service signs what it emits (Ed25519 over the canonical entry:
every field but ``signature``, as sorted compact JSON), and the consumer checks the signature
against the public keys of the producers allowed for that type. Redis is the untrusted party:
private keys stay in each service's data folder, public keys come by configuration
(``event_public_keys``), never by Redis. A forged, unsigned or misattributed event goes to the
dead letters at once, with the reason.
"""

import base64
import binascii
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.names import Service, event_source

if TYPE_CHECKING:
    from shared.events.registry import EventRegistry
    from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

SIGNATURE_FIELD = "signature"
"""CloudEvents extension attribute: ``<key id>.<base64url signature>``."""

PLATFORM_EVENTS: Mapping[str, frozenset[str]] = {
    "platform.probe.requested": frozenset({Service.INTAKE}),
    "platform.probe.answered": frozenset(Service),
}
"""Events of ``shared.events.platform``, produced by a service other than the module's name."""

Producers = Callable[[str], frozenset[str]]


class ForgedEvent(ValueError):
    """An event no allowed producer signed; the reason names the type and source, no data."""


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def canonical(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> bytes:
    """What is signed: every field but the signature, as sorted compact JSON."""
    plain = {_text(k): _text(v) for k, v in fields.items() if _text(k) != SIGNATURE_FIELD}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def key_id(public_key: str) -> str:
    return hashlib.sha256(public_key.encode()).hexdigest()[:16]


class EventSigner:
    """Signs the entries one service publishes."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = public_key_text(private_key.public_key())
        self.key_id = key_id(self.public_key)

    @classmethod
    def from_file(cls, path: Path) -> "EventSigner":
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def sign(self, fields: Mapping[str, str]) -> dict[str, str]:
        signature = self._key.sign(canonical(fields))
        return {**fields, SIGNATURE_FIELD: f"{self.key_id}.{_b64(signature)}"}


def producers_of(event_type: str, registry: "EventRegistry | None" = None) -> frozenset[str]:
    """Services allowed to produce ``event_type``: the model's ``producers`` if it says, else
    the service its module is named after (``shared.events.<service>``)."""
    if registry is None:
        from shared.events import REGISTRY  # noqa: PLC0415 - it imports every event module

        registry = REGISTRY

    if event_type in PLATFORM_EVENTS:
        return PLATFORM_EVENTS[event_type]
    if event_type not in registry:
        return frozenset()
    model = registry.model(event_type)
    declared: frozenset[str] | None = getattr(model, "producers", None)
    if declared is not None:
        return declared
    module = model.__module__.rsplit(".", 1)[-1]
    return frozenset({module}) if module in set(Service) else frozenset()


class EventVerifier:
    """Checks that an entry was signed by a producer allowed for its type, under its source."""

    def __init__(
        self, public_keys: Mapping[str, Iterable[str]], producers: Producers = producers_of
    ) -> None:
        self._keys: dict[str, dict[str, Ed25519PublicKey]] = {
            service: {key_id(text): Ed25519PublicKey.from_public_bytes(_unb64(text))
                      for text in texts}
            for service, texts in public_keys.items()
        }  # fmt: skip
        self._producers = producers

    def check(
        self, fields: Mapping[bytes, bytes] | Mapping[str, str], event_type: str, source: str
    ) -> None:
        """Raise ForgedEvent unless an allowed producer signed this entry."""
        allowed = self._producers(event_type)
        producer = next((p for p in allowed if event_source(p) == source), None)
        if producer is None:
            raise ForgedEvent(f"{source} may not publish {event_type}")
        signature = next((_text(v) for k, v in fields.items()
                          if _text(k) == SIGNATURE_FIELD), None)  # fmt: skip
        if not signature:
            raise ForgedEvent(f"{event_type} from {source} is not signed")
        kid, _, value = signature.partition(".")
        key = self._keys.get(producer, {}).get(kid)
        if key is None:
            raise ForgedEvent(f"{event_type} from {source} is signed by a key {producer} "
                              "does not have")  # fmt: skip
        try:
            key.verify(_unb64(value), canonical(fields))
        except (InvalidSignature, binascii.Error, ValueError):
            reason = f"{event_type} from {source}: the signature does not verify"
            raise ForgedEvent(reason) from None


def ensure_key(path: Path) -> str:
    """The public key of the private key at ``path``, made (readable by its owner only) if
    there is none yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
    return EventSigner.from_file(path).public_key


def event_keys(
    settings: "ServiceSettings", registry: "EventRegistry"
) -> tuple[EventSigner | None, EventVerifier | None]:
    """This service's signer (if it has a key) and the verifier of what it consumes (if
    public keys are configured: then it must sign too, or its own events would be refused)."""
    path = settings.signing_key_path
    signer = EventSigner.from_file(path) if path.exists() else None
    if not settings.event_public_keys:
        log.warning("event_public_keys is not set: events are applied without checking who "
                    "signed them (docs/redis-acl.md)")  # fmt: skip
        return signer, None
    if signer is None:
        raise RuntimeError(f"event_public_keys is set but there is no signing key at {path}")
    producers = functools.partial(producers_of, registry=registry)
    return signer, EventVerifier(settings.event_public_keys, producers)
