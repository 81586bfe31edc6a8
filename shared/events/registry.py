"""The event registry: CloudEvents ``type`` → payload model, with upcasters between versions.

The version travels in ``dataschema`` (``urn:safereturn:event:<type>:v<n>``). A consumer reads
any older version through the chain of upcasters registered for that type.
"""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from shared.events.base import EventPayload
from shared.events.envelope import JSON, SPECVERSION, CloudEvent

P = TypeVar("P", bound=EventPayload)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_SCHEMA = re.compile(r"^urn:safereturn:event:(?P<type>[a-z0-9_.]+):v(?P<version>[0-9]+)$")


class UnknownEventError(LookupError):
    """The registry has no model for an event's type or version."""


class PayloadError(ValueError):
    """An event's data does not match its model; the message names fields, never values."""

    def __init__(self, event_type: str, error: ValidationError) -> None:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or '(root)'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)
        )
        super().__init__(f"{event_type} payload is invalid: {problems}")


def dataschema(event_type: str, version: int) -> str:
    return f"urn:safereturn:event:{event_type}:v{version}"


@dataclass(frozen=True, slots=True)
class Event(Generic[P]):
    """A decoded event: the CloudEvents envelope and its typed payload."""

    envelope: CloudEvent
    payload: P
    entry_id: str | None = None
    """The stream entry it was read from (its id's milliseconds: when Redis took it in)."""

    @property
    def id(self) -> str:
        return self.envelope.get_id()

    @property
    def source(self) -> str:
        return self.envelope.get_source()

    @property
    def type(self) -> str:
        return self.envelope.get_type()

    @property
    def subject(self) -> str | None:
        return self.envelope.get_subject()

    @property
    def time(self) -> datetime:
        moment = self.envelope.get_time()
        assert moment is not None  # the envelope decoder insists on it
        return moment


class EventRegistry:
    """Maps each CloudEvents ``type`` to its current payload model and its upcasters."""

    def __init__(self) -> None:
        self._models: dict[str, type[EventPayload]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, model: type[P]) -> type[P]:
        """Class decorator: make ``model`` the current version of its ``event_type``."""
        known = self._models.get(model.event_type)
        if known is not None and known is not model:
            raise ValueError(f"{model.event_type} is already registered to {known.__name__}")
        self._models[model.event_type] = model
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: turn the data of ``from_version`` into that of ``from_version + 1``."""

        def decorate(function: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = function
            return function

        return decorate

    def __iter__(self) -> Iterator[type[EventPayload]]:
        return iter(sorted(self._models.values(), key=lambda model: model.event_type))

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._models

    def model(self, event_type: str) -> type[EventPayload]:
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventError(f"no model for event type {event_type!r}") from None

    def missing_upcasters(self) -> list[tuple[str, int]]:
        """(type, version) pairs that an older event could not be brought forward from."""
        return [
            (model.event_type, version)
            for model in self
            for version in range(1, model.version)
            if (model.event_type, version) not in self._upcasters
        ]

    def envelope(
        self,
        payload: EventPayload,
        *,
        event_id: str,
        source: str,
        subject: str | None,
        time: datetime,
        extensions: dict[str, str] | None = None,
    ) -> CloudEvent:
        """Wrap ``payload`` in a CloudEvent of its registered type and current version."""
        model = type(payload)
        if self._models.get(model.event_type) is not model:
            raise UnknownEventError(f"{model.__name__} is not registered")
        attributes: dict[str, Any] = {
            "specversion": SPECVERSION,
            "id": event_id,
            "source": source,
            "type": model.event_type,
            "time": time,
            "datacontenttype": JSON,
            "dataschema": dataschema(model.event_type, model.version),
            **(extensions or {}),
        }
        if subject is not None:
            attributes["subject"] = subject
        return CloudEvent(attributes, payload.model_dump_json())

    def decode(self, envelope: CloudEvent) -> Event[EventPayload]:
        """Validate the data against the model, upcasting older versions first."""
        event_type = envelope.get_type()
        model = self.model(event_type)
        version = self._version(envelope, event_type)
        if version > model.version:
            raise UnknownEventError(f"{event_type} v{version} is newer than v{model.version}")
        raw = envelope.get_data()
        try:
            data = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw or {})
        except json.JSONDecodeError as error:
            raise ValueError(f"{event_type} data is not JSON: {error.msg}") from None
        for step in range(version, model.version):
            upcast = self._upcasters.get((event_type, step))
            if upcast is None:
                raise UnknownEventError(f"no upcaster for {event_type} v{step}")
            data = upcast(data)
        try:
            return Event(envelope, model.model_validate(data))
        except ValidationError as error:
            raise PayloadError(event_type, error) from None

    @staticmethod
    def _version(envelope: CloudEvent, event_type: str) -> int:
        schema = envelope.get_dataschema()
        if schema is None:
            return 1
        match = _SCHEMA.match(schema)
        if match is None or match["type"] != event_type:
            raise UnknownEventError(f"dataschema {schema!r} does not describe {event_type}")
        return int(match["version"])
