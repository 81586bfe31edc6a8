"""Stream submissions as received: when Redis took each one in, and what identifies it."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel


def added_at(entry_id: str) -> datetime:
    """When the entry was added: the milliseconds of its stream id (Redis's clock)."""
    milliseconds, _, _ = entry_id.partition("-")
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC)


def submission_key(source: str, event_id: str) -> str:
    """The sender's CloudEvents identity (``source`` and ``id``), of bounded length."""
    return hashlib.sha256(f"{source}\n{event_id}".encode()).hexdigest()


def fingerprint(event_type: str, content: BaseModel) -> str:
    """What was submitted, whatever its JSON spelling: key order, spacing and the order of
    lists do not change it."""
    canonical = json.dumps(_canonical(content.model_dump(mode="json")), ensure_ascii=False)
    return hashlib.sha256(f"{event_type}\n{canonical}".encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value
