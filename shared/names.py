"""Every Redis stream, consumer group and key name used by the platform.

Each stream carries a hash tag (``{...}``) so that, on Redis Cluster, a stream and its
dead-letter stream live in the same slot and can be changed in one MULTI/EXEC.
"""

import os
import re
import socket
import zlib
from enum import StrEnum

PREFIX = "safereturn"


class Stream(StrEnum):
    """Streams that carry CloudEvents between services."""

    CASES = f"{PREFIX}:{{cases}}"
    ACTIVITIES = f"{PREFIX}:{{activities}}"
    PLATFORM = f"{PREFIX}:{{platform}}"
    SUBMISSIONS = f"{PREFIX}:{{submissions}}"
    """Inbound: agency systems publish reports here instead of calling HTTP (private to
    intake; entries are deleted once committed, since they carry personal data)."""
    SUBMISSIONS_REJECTED = f"{PREFIX}:{{submissions}}:rejected"
    """Refused submissions with machine-readable reasons (the original sealed, not lost)."""
    NOTIFICATIONS = f"{PREFIX}:{{notifications}}"
    """Notify's delivery outcomes, for statistics and operators (no addresses, no bodies)."""


class Service(StrEnum):
    """The platform's services; each owns one database and one consumer group per stream."""

    INTAKE = "intake"
    VERIFICATION = "verification"
    SUPPORT = "support"
    NOTIFY = "notify"
    STATS = "stats"


CASE_PARTITION_PATTERN = f"{PREFIX}:{{cases-*}}"
"""Every partition of the case stream but the first (ACL key patterns)."""


def case_partitions(count: int) -> list[str]:
    """The case stream split ``count`` ways: ``safereturn:{cases}`` first (the whole stream when
    it is not split), then ``safereturn:{cases-1}`` … — each its own hash tag, so its own
    cluster slot, which can live on its own primary."""
    return [Stream.CASES, *(f"{PREFIX}:{{cases-{k}}}" for k in range(1, count))]


def case_partition(case_id: str | None, count: int) -> str:
    """The partition a case's events go to: always the same one, so they stay in order.
    CRC-32 of the case id, which every process computes alike."""
    if count <= 1 or not case_id:
        return Stream.CASES
    return case_partitions(count)[zlib.crc32(case_id.encode()) % count]


def physical_streams(stream: str, case_partitions_count: int) -> list[str]:
    """The Redis streams that carry ``stream``: the case stream's partitions, else itself."""
    return case_partitions(case_partitions_count) if stream == Stream.CASES else [stream]


REVOKED_CLIENTS = f"{PREFIX}:auth:revoked-clients"
"""Hash of revoked client ids → revocation time; intake keeps it in step with its database."""


def rate_limit_key(scope: str, subject: str) -> str:
    """Sorted set of a subject's recent allowed hits (``shared.ratelimit``)."""
    return f"{PREFIX}:ratelimit:{scope}:{subject}"


HTTP_PORTS = {
    Service.INTAKE: 8001,
    Service.VERIFICATION: 8002,
    Service.SUPPORT: 8003,
    Service.NOTIFY: 8004,
    Service.STATS: 8005,
}

DEAD_LETTER_SUFFIX = ":dlq"


def stream_tag(stream: str) -> str:
    """The hash tag of a stream: ``safereturn:{cases}`` → ``cases``."""
    return stream[stream.index("{") + 1 : stream.index("}")]


def dead_letter_stream(stream: str) -> str:
    """The dead-letter stream beside ``stream`` (same hash tag, so the same cluster slot)."""
    return f"{stream}{DEAD_LETTER_SUFFIX}"


def is_dead_letter_stream(name: str) -> bool:
    return name.endswith(DEAD_LETTER_SUFFIX)


ACKNOWLEDGED_STREAMS = (
    Stream.CASES, Stream.ACTIVITIES, Stream.PLATFORM, Stream.SUBMISSIONS, Stream.NOTIFICATIONS,
)  # fmt: skip
"""Streams read by consumer groups: trimmed below what every group has acknowledged."""
ARCHIVIST = Service.STATS
ARCHIVED_STREAMS = (Stream.CASES, Stream.ACTIVITIES, Stream.NOTIFICATIONS)
"""Streams stats archives (``services.stats.handlers.ARCHIVED``): trimmed only below stats'
acknowledgement, which implies archived."""
PERSONAL_DATA_STREAMS = (Stream.SUBMISSIONS,)
"""Streams whose entries carry personal data and are deleted once committed: after such
deletions the AOF is rewritten so it does not keep them."""
REJECTED_STREAMS = (Stream.SUBMISSIONS_REJECTED,)
"""Kept for a set age (``rejected_retention_s``), whoever has read them."""

RETENTION_SERVICE = Service.INTAKE
"""The service that applies retention by default: its Redis user alone may trim every stream
(``shared.redis_acl``); it owns the personal-data stream whose deletions need an AOF rewrite."""
RETENTION_LEASE = f"{PREFIX}:retention:lease"
"""Held (SET NX PX) by the replica that applies retention, for one retention interval."""
FIGURES_LEASE_PREFIX = f"{PREFIX}:figures:"
"""A key per shared figure (a stream's, a group's, notify's queue), held (SET NX PX) by the one
process that exports it (``shared.figures``)."""
AOF_REWRITE_THROTTLE = f"{PREFIX}:retention:aof-rewrite"
"""Exists for ``aof_rewrite_interval_s`` after an AOF rewrite was started."""
AOF_REWRITE_MARK = f"{PREFIX}:retention:aof-mark"
"""Hash: personal-data stream → its state (length, last id, last deleted id) at the last
rewrite; a change means deletions since."""


INTEGRATOR_STREAM_PREFIX = f"{PREFIX}:{{integrator:"
INTEGRATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")


def integrator_stream(name: str) -> str:
    """One integrator's stream: the consent-filtered, coded views of its area's case events of
    the types it chose, published by notify (``services.notify.integrators``); its own hash
    slot. The integrator's Redis user may read this key and no other."""
    if not INTEGRATOR_NAME.fullmatch(name):
        raise ValueError("an integrator's name is 1-60 letters, digits, - and _")
    return f"{INTEGRATOR_STREAM_PREFIX}{name}}}"


def integrator_group(name: str) -> str:
    """The consumer group an integrator reads its stream through."""
    return f"{PREFIX}.integrator.{name}"


def consumer_group(service: str) -> str:
    """One group per service and stream: replicas of a service share the work."""
    return f"{PREFIX}.{service}"


def consumer_name(service: str) -> str:
    """Unique per process, so replicas and restarts never share pending entries by accident."""
    return f"{service}@{socket.gethostname()}-{os.getpid()}"


def event_source(service: str) -> str:
    """CloudEvents ``source`` of events a service produces."""
    return f"/safereturn/{service}"
