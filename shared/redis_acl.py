"""Redis ACL users: one per party, each with only the keys and commands it needs.

Parties: each service; ``submitter`` (agency systems: XADD to the submissions stream only);
``integrator-<name>`` (reads its own stream through its group); ``monitor``
(read-only counts for autoscalers and exporters); ``operator`` (the ``safereturn`` tools);
``default`` is off. Redis checks rights per command and key, not per consumer group or per
event type: which service may publish which event is enforced by signatures
(``shared.signing``), and consumers on a shared stream can touch each other's groups
(docs/redis-acl.md says what that leaves open).
"""

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from shared.names import (
    ACKNOWLEDGED_STREAMS,
    CASE_PARTITION_PATTERN,
    FIGURES_LEASE_PREFIX,
    INTEGRATOR_STREAM_PREFIX,
    PERSONAL_DATA_STREAMS,
    PREFIX,
    REJECTED_STREAMS,
    RETENTION_SERVICE,
    REVOKED_CLIENTS,
    Service,
    Stream,
    dead_letter_stream,
    integrator_stream,
)

OPERATOR = "operator"
SUBMITTER = "submitter"
MONITOR = "monitor"
INTEGRATOR_PREFIX = "integrator-"

CONNECTION = ("+ping", "+select", "+hello", "+auth", "+client|setname", "+client|getname",
              "+client|id", "+reset", "+quit")  # fmt: skip
"""What any client library sends on connecting (SELECT, HELLO, …; CLIENT SETINFO from 7.2)."""

CLUSTER_TOPOLOGY = ("+cluster|slots", "+cluster|shards", "+cluster|nodes", "+cluster|info",
                    "+cluster|myid", "+command", "+readonly")  # fmt: skip
"""What a cluster client asks to learn which node owns which slot (``shared.redis_connect``);
it reveals no key or entry."""

CONSUMER = ("+xreadgroup", "+xack", "+xautoclaim", "+xclaim", "+xgroup|create",
            "+xgroup|createconsumer", "+xgroup|delconsumer", "+xinfo|groups",
            "+xinfo|consumers", "+xpending", "+xrange", "+xlen", "+eval", "+evalsha", "+multi",
            "+exec", "+discard")  # fmt: skip
"""A consumer group's loop, its reclaimer, its maintenance (``shared.consumer``,
``shared.consumer_groups``, ``shared.figures``) and the MULTI/EXEC that moves an entry
to its dead letters."""

CONSUMES: Mapping[Service, tuple[Stream, ...]] = {
    Service.INTAKE: (Stream.PLATFORM, Stream.SUBMISSIONS, Stream.CASES),
    Service.VERIFICATION: (Stream.PLATFORM, Stream.CASES),
    Service.SUPPORT: (Stream.PLATFORM, Stream.CASES),
    Service.NOTIFY: (Stream.PLATFORM, Stream.CASES),
    Service.STATS: (Stream.PLATFORM, Stream.CASES, Stream.ACTIVITIES, Stream.NOTIFICATIONS),
}
"""The streams each service reads through its consumer group."""

PRODUCES: Mapping[Service, tuple[str, ...]] = {
    Service.INTAKE: (Stream.PLATFORM, Stream.CASES, Stream.ACTIVITIES, Stream.SUBMISSIONS_REJECTED),
    Service.VERIFICATION: (Stream.PLATFORM, Stream.CASES),
    Service.SUPPORT: (Stream.PLATFORM, Stream.CASES),
    Service.NOTIFY: (Stream.PLATFORM, Stream.NOTIFICATIONS, f"{INTEGRATOR_STREAM_PREFIX}*"),
    Service.STATS: (Stream.PLATFORM,),
}
"""Key patterns each service's outbox relay may XADD to (its events' streams)."""


@dataclass(frozen=True, slots=True)
class User:
    """One ACL user: its name and its rules (without a password)."""

    name: str
    rules: tuple[str, ...]

    def line(self, password: str) -> str:
        """This user as a line of an ACL file, its password stored as a SHA-256 hash."""
        return " ".join(("user", self.name, "on", f"#{hash_password(password)}", *self.rules))

    def setuser(self, password: str) -> list[str]:
        """Arguments of ``ACL SETUSER`` that make this user what the ACL file says."""
        return [self.name, "reset", "on", f">{password}", *self.rules]


def hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(32)


PARTITIONED = {
    str(Stream.CASES): CASE_PARTITION_PATTERN,
    dead_letter_stream(Stream.CASES): dead_letter_stream(CASE_PARTITION_PATTERN),
}
"""A right on the case stream (or its dead letters) is also one on its partitions."""


def _keys(patterns: Iterable[str], access: str = "") -> list[str]:
    every = [key for pattern in patterns for key in (pattern, PARTITIONED.get(pattern)) if key]
    return [f"{access}~{key}" for key in every]


def _selector(commands: Iterable[str], keys: Iterable[str]) -> str:
    return f"({' '.join((*commands, *keys))})"


def _base(redis72: bool) -> list[str]:
    since72 = ["+client|setinfo"] if redis72 else []
    return ["resetkeys", "resetchannels", "-@all", *CONNECTION, *CLUSTER_TOPOLOGY, *since72]


def service_user(service: Service, *, redis72: bool = True) -> User:
    """A service: its consumer groups, XADD to its own events' streams and its consumed
    streams' dead letters (and their length), the leases of the streams' figures, the
    revocation list, rate limits, the outbox's durability check and, for the retention service,
    trimming."""
    consumed = [str(stream) for stream in CONSUMES[service]]
    rules = [*_base(redis72), *CONSUMER, *_keys(consumed, "%RW")]
    if Stream.SUBMISSIONS in CONSUMES[service]:  # transient: deleted once committed
        rules.append(_selector(["+xdel"], _keys([Stream.SUBMISSIONS], "%RW")))
    dead_letters = [dead_letter_stream(stream) for stream in consumed]
    rules.append(_selector(["+xadd"], _keys([*PRODUCES[service], *dead_letters], "%W")))
    rules.append(_selector(["+xlen"], _keys(dead_letters, "%R")))  # their depth, for metrics
    rules.append(_selector(["+set", "+get", "+pexpire"], _keys([f"{FIGURES_LEASE_PREFIX}*"])))
    rules.append("+wait")  # replicas hold the batch (redis_waitaof_replicas), before 7.2
    if redis72:
        rules.append("+waitaof")
    if service is Service.INTAKE:  # keeps the revocation list in step with its database
        rules.append(_selector(["+hset", "+hdel", "+del", "+hkeys"], _keys([REVOKED_CLIENTS])))
    else:
        rules.append(_selector(["+hkeys"], _keys([REVOKED_CLIENTS], "%R")))
    limits = [f"{PREFIX}:ratelimit:*"]
    window = ["+zadd", "+zremrangebyscore", "+zcard", "+zrange", "+zrem", "+zpopmax", "+expire"]
    rules.append(_selector(window, _keys(limits)))
    if service is RETENTION_SERVICE:
        rules += retention_rules()
    return User(str(service), tuple(rules))


def retention_rules() -> list[str]:
    """``shared.retention``: trims below every group's acknowledgement (and by age), leases,
    and the AOF rewrite after personal data was deleted; and Redis's memory (INFO)."""
    every = [str(s) for s in (*ACKNOWLEDGED_STREAMS, *REJECTED_STREAMS)]
    every += [dead_letter_stream(stream) for stream in ACKNOWLEDGED_STREAMS]
    every.append(f"{INTEGRATOR_STREAM_PREFIX}*")  # the integrators' streams, trimmed by age
    return [
        _selector(["+xtrim", "+xinfo|groups", "+xpending"], _keys(every, "%RW")),
        "+scan",  # to find the integrators' streams (key names only: no personal data)
        _selector(["+xinfo|stream"], _keys(map(str, PERSONAL_DATA_STREAMS), "%R")),
        _selector(["+set", "+del", "+hgetall", "+hset"], _keys([f"{PREFIX}:retention:*"])),
        "+bgrewriteaof",
        "+info",  # Redis's memory, for the operators' alert (shared.figures)
    ]


def submitter_user(*, redis72: bool = True) -> User:
    """Agency systems: XADD to the submissions stream, and nothing else (not even read it)."""
    return User(SUBMITTER, (*_base(redis72), "+xadd", *_keys([Stream.SUBMISSIONS], "%W")))


def integrator_user(name: str, *, redis72: bool = True) -> User:
    """An integrator: its own stream, read through a consumer group (its own, which the
    operator creates; it may create others on its stream only); no XADD, XDEL, XTRIM, group
    deletion or moving a group's position."""
    commands = ("+xreadgroup", "+xack", "+xautoclaim", "+xclaim", "+xgroup|create",
                "+xgroup|createconsumer", "+xinfo|groups", "+xinfo|consumers", "+xinfo|stream",
                "+xpending", "+xrange", "+xlen")  # fmt: skip
    rules = (*_base(redis72), *commands, *_keys([integrator_stream(name)], "%RW"))
    return User(f"{INTEGRATOR_PREFIX}{name}", rules)


def monitor_user(*, redis72: bool = True) -> User:
    """Autoscalers (KEDA) and exporters: lengths, groups, pending counts and INFO; never an
    entry's content (XINFO STREAM shows entries, so it is not granted)."""
    commands = ("+info", "+xlen", "+xpending", "+xinfo|groups", "+xinfo|consumers", "+scan",
                "+type", "+dbsize")  # fmt: skip
    return User(MONITOR, (*_base(redis72), *commands, *_keys([f"{PREFIX}:{{*"], "%R")))


def operator_user() -> User:
    """The ``safereturn`` tools: dead-letter replay, integrator users; everything."""
    return User(OPERATOR, ("resetkeys", "~*", "&*", "+@all"))


def platform_users(*, redis72: bool = True) -> list[User]:
    """Every user of the platform itself (integrators are added one by one); ``redis72``:
    the server is Redis 7.2 or later (WAITAOF, CLIENT SETINFO)."""
    services = [service_user(service, redis72=redis72) for service in Service]
    others = [submitter_user(redis72=redis72), monitor_user(redis72=redis72)]
    return [*services, *others, operator_user()]


DEFAULT_USER = "user default off resetkeys ~* &* +@all"
"""``default`` is off: no connection is ever it, every client must authenticate as its own
user. Its rights stay whole all the same: Redis replays its AOF as ``default`` and, before
8.4 (redis/redis#14545), checks each replayed MULTI/EXEC against them — without any, every
transaction in the AOF was dropped on restart, a consumer group's read of several entries
among them, whose entries were then neither pending nor delivered again."""


def acl_file(
    users: Iterable[User], passwords: Mapping[str, str], *, kept: Iterable[str] = ()
) -> str:
    """An ACL file: ``default`` off (``DEFAULT_USER``), then each user with its password hashed;
    ``kept`` lines (users added at run time, such as integrators) are carried over as they
    are."""
    lines = [DEFAULT_USER, *(u.line(passwords[u.name]) for u in users)]
    return "\n".join([*lines, *kept]) + "\n"


def other_users(text: str, users: Iterable[User]) -> list[str]:
    """The lines of an existing ACL file for users other than ``default`` and ``users``."""
    mine = {"default", *(user.name for user in users)}
    return [line for line in text.splitlines()
            if line.startswith("user ") and line.split()[1] not in mine]  # fmt: skip


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` connecting as ``user``."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def is_redis72(version: str) -> bool:
    major, minor, *_ = (int(part) for part in version.split("."))
    return (major, minor) >= (7, 2)
