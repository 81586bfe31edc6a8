"""Each party's Redis user, on a real redis-server loaded with the generated ACL file: a command
it needs succeeds, a command or key it has no business with fails with NOPERM."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.names import (
    AOF_REWRITE_MARK,
    RETENTION_LEASE,
    REVOKED_CLIENTS,
    Service,
    Stream,
    dead_letter_stream,
    integrator_group,
    integrator_stream,
    rate_limit_key,
)
from shared.redis_acl import (
    MONITOR,
    OPERATOR,
    SUBMITTER,
    acl_file,
    generate_password,
    integrator_user,
    is_redis72,
    platform_users,
)
from shared.redis_server import RedisServer, binary_version, find_redis_server, free_port

BINARY = find_redis_server()
VERSION = binary_version(BINARY)
pytestmark = pytest.mark.skipif(
    int(VERSION.split(".")[0]) < 7, reason=f"ACL selectors need Redis 7 (found {VERSION})"
)
REDIS72 = int(VERSION.split(".")[0]) >= 7 and is_redis72(VERSION)

GROUP = "safereturn.someone"
OURS, THEIRS = "integrator-ngo-11", "integrator-ngo-12"
ENTRY = ("*", "type", "case.identified", "data", "{}")

CASES, SUBMISSIONS = str(Stream.CASES), str(Stream.SUBMISSIONS)
HERE, ELSEWHERE = integrator_stream("ngo-11"), integrator_stream("ngo-12")


Server = tuple[RedisServer, dict[str, str]]


def readgroup(stream: str, group: str = GROUP) -> tuple[str, ...]:
    return ("XREADGROUP", "GROUP", group, "c1", "COUNT", "1", "STREAMS", stream, ">")


# (user, command): each is needed by that user, so it must succeed.
ALLOWED = [
    (Service.INTAKE, ("XADD", CASES, *ENTRY)),
    (Service.INTAKE, ("XADD", str(Stream.SUBMISSIONS_REJECTED), *ENTRY)),
    (Service.INTAKE, readgroup(SUBMISSIONS)),
    (Service.INTAKE, ("XDEL", SUBMISSIONS, "0-1")),
    (Service.INTAKE, ("HSET", REVOKED_CLIENTS, "client-1", "2026-12-02T00:00:00Z")),
    (Service.INTAKE, ("XTRIM", CASES, "MINID", "0")),
    (Service.INTAKE, ("XINFO", "STREAM", SUBMISSIONS)),
    (Service.INTAKE, ("SET", RETENTION_LEASE, "me", "NX", "PX", "1000")),
    (Service.INTAKE, ("HGETALL", AOF_REWRITE_MARK)),
    (Service.VERIFICATION, ("XADD", CASES, *ENTRY)),
    (Service.VERIFICATION, readgroup(CASES)),
    (Service.VERIFICATION, ("XACK", CASES, GROUP, "0-1")),
    (Service.VERIFICATION, ("XAUTOCLAIM", CASES, GROUP, "c1", "1000", "0")),
    (Service.VERIFICATION, ("XGROUP", "CREATE", CASES, "safereturn.verification", "0")),
    (Service.VERIFICATION, ("XINFO", "GROUPS", CASES)),
    (Service.VERIFICATION, ("XPENDING", CASES, GROUP)),
    (Service.VERIFICATION, ("XADD", dead_letter_stream(CASES), *ENTRY)),
    (Service.VERIFICATION, ("HKEYS", REVOKED_CLIENTS)),
    (Service.VERIFICATION, ("ZADD", rate_limit_key("verification", "client-1"), "1", "a")),
    (Service.SUPPORT, ("XADD", CASES, *ENTRY)),
    (Service.NOTIFY, ("XADD", str(Stream.NOTIFICATIONS), *ENTRY)),
    (Service.NOTIFY, ("XADD", HERE, *ENTRY)),
    (Service.STATS, readgroup(str(Stream.ACTIVITIES))),
    (Service.STATS, ("XADD", str(Stream.PLATFORM), *ENTRY)),
    (SUBMITTER, ("XADD", SUBMISSIONS, *ENTRY)),
    (MONITOR, ("XLEN", CASES)),
    (MONITOR, ("XINFO", "GROUPS", SUBMISSIONS)),
    (MONITOR, ("XPENDING", SUBMISSIONS, GROUP)),
    (MONITOR, ("INFO", "memory")),
    (OURS, ("XGROUP", "CREATE", HERE, integrator_group("ngo-11"), "0")),
    (OURS, readgroup(HERE)),
    (OURS, ("XACK", HERE, GROUP, "0-1")),
    (OURS, ("XAUTOCLAIM", HERE, GROUP, "c1", "60000", "0-0")),
    (OURS, ("XPENDING", HERE, GROUP)),
    (OURS, ("XINFO", "GROUPS", HERE)),
    (THEIRS, readgroup(ELSEWHERE)),
    (OPERATOR, ("XRANGE", SUBMISSIONS, "-", "+")),
]

# (user, command): outside what that user needs, so Redis must refuse it.
REFUSED = [
    # Agency systems publish submissions and nothing else: not read theirs or others'.
    (SUBMITTER, ("XRANGE", SUBMISSIONS, "-", "+")),
    (SUBMITTER, ("XREAD", "STREAMS", SUBMISSIONS, "0")),
    (SUBMITTER, readgroup(SUBMISSIONS)),
    (SUBMITTER, ("DEL", REVOKED_CLIENTS)),
    (SUBMITTER, ("HDEL", REVOKED_CLIENTS, "client-1")),
    (SUBMITTER, ("XADD", CASES, *ENTRY)),
    (SUBMITTER, ("XADD", str(Stream.SUBMISSIONS_REJECTED), *ENTRY)),
    (SUBMITTER, ("XDEL", SUBMISSIONS, "0-1")),
    (SUBMITTER, ("XTRIM", SUBMISSIONS, "MAXLEN", "0")),
    (SUBMITTER, ("KEYS", "*")),
    # A service publishes on its own events' streams only, and never reads submissions.
    (Service.VERIFICATION, ("XADD", str(Stream.ACTIVITIES), *ENTRY)),
    (Service.VERIFICATION, ("XADD", SUBMISSIONS, *ENTRY)),
    (Service.VERIFICATION, ("XRANGE", SUBMISSIONS, "-", "+")),
    (Service.VERIFICATION, ("HSET", REVOKED_CLIENTS, "client-1", "x")),
    (Service.VERIFICATION, ("DEL", REVOKED_CLIENTS)),
    (Service.VERIFICATION, ("XTRIM", CASES, "MINID", "0")),
    (Service.VERIFICATION, ("XDEL", CASES, "0-1")),
    (Service.VERIFICATION, ("XGROUP", "DESTROY", CASES, GROUP)),
    (Service.VERIFICATION, ("XGROUP", "SETID", CASES, GROUP, "0")),
    (Service.VERIFICATION, ("DEL", CASES)),
    (Service.VERIFICATION, ("CONFIG", "GET", "*")),
    (Service.VERIFICATION, ("FLUSHALL",)),
    (Service.VERIFICATION, ("BGREWRITEAOF",)),
    (Service.SUPPORT, ("XADD", str(Stream.NOTIFICATIONS), *ENTRY)),
    (Service.SUPPORT, ("XADD", HERE, *ENTRY)),
    (Service.NOTIFY, ("XADD", str(Stream.ACTIVITIES), *ENTRY)),
    (Service.NOTIFY, readgroup(SUBMISSIONS)),
    (Service.STATS, ("XADD", CASES, *ENTRY)),
    (Service.STATS, ("XADD", HERE, *ENTRY)),
    (Service.INTAKE, ("XADD", HERE, *ENTRY)),
    (Service.INTAKE, ("XADD", str(Stream.NOTIFICATIONS), *ENTRY)),
    # The monitor sees counts, never an entry, and changes nothing.
    (MONITOR, ("XRANGE", CASES, "-", "+")),
    (MONITOR, ("XINFO", "STREAM", SUBMISSIONS)),
    (MONITOR, readgroup(CASES)),
    (MONITOR, ("XADD", CASES, *ENTRY)),
    (MONITOR, ("HKEYS", REVOKED_CLIENTS)),
    # An integrator reads its own stream, and nothing else: not another's, not the platform's.
    (OURS, ("XADD", HERE, *ENTRY)),
    (OURS, ("XDEL", HERE, "0-1")),
    (OURS, ("XTRIM", HERE, "MAXLEN", "0")),
    (OURS, ("XGROUP", "DESTROY", HERE, GROUP)),
    (OURS, ("XGROUP", "SETID", HERE, GROUP, "0")),
    (OURS, ("DEL", HERE)),
    (OURS, readgroup(ELSEWHERE)),
    (OURS, ("XRANGE", ELSEWHERE, "-", "+")),
    (OURS, readgroup(CASES)),
    (OURS, ("XRANGE", CASES, "-", "+")),
    (OURS, readgroup(SUBMISSIONS)),
    (THEIRS, readgroup(HERE)),
]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """A redis-server started with the ACL file ``safereturn redis acl`` writes."""
    users = [
        *platform_users(redis72=REDIS72),
        integrator_user("ngo-11", redis72=REDIS72),
        integrator_user("ngo-12", redis72=REDIS72),
    ]
    passwords = {user.name: f"password-of-{user.name}" for user in users}
    directory = tmp_path_factory.mktemp("acl")
    acl = Path(directory / "users.acl")
    acl.write_text(acl_file(users, passwords))
    redis_server = RedisServer(
        directory / "redis", free_port(), BINARY, acl_file=acl, username=OPERATOR,
        password=passwords[OPERATOR],
    )  # fmt: skip
    redis_server.start()
    operator = redis.Redis.from_url(redis_server.url)
    for stream in (CASES, SUBMISSIONS, str(Stream.ACTIVITIES), HERE, ELSEWHERE):
        operator.xgroup_create(stream, GROUP, id="0", mkstream=True)
    operator.close()
    try:
        yield redis_server, passwords
    finally:
        redis_server.stop()


def run(server: Server, user: str, command: tuple[str, ...]) -> object:
    redis_server, passwords = server
    client = redis.Redis(port=redis_server.port, username=user, password=passwords[user])
    try:
        return client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def ids(rows: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    return [f"{user}:{' '.join(command[:3])}" for user, command in rows]


@pytest.mark.parametrize(("user", "command"), ALLOWED, ids=ids(ALLOWED))
def test_a_party_may_run_what_it_needs(server: Server, user: str, command: tuple[str, ...]) -> None:
    run(server, user, command)  # raises NoPermissionError if the ACL forbids it


@pytest.mark.parametrize(("user", "command"), REFUSED, ids=ids(REFUSED))
def test_a_party_is_refused_what_it_has_no_business_with(
    server: Server, user: str, command: tuple[str, ...]
) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        run(server, user, command)


def test_without_credentials_nothing_is_allowed(server: Server) -> None:
    client = redis.Redis(port=server[0].port)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            client.xrange(SUBMISSIONS)
    finally:
        client.close()


def test_the_acl_file_holds_password_hashes_only_and_default_is_off() -> None:
    users = platform_users()
    passwords = {user.name: f"secret-{user.name}" for user in users}
    lines = acl_file(users, passwords).splitlines()
    assert lines[0].startswith("user default off")
    assert not any(password in line for line in lines for password in passwords.values())
    assert all(re.search(r" on #[0-9a-f]{64} ", line) for line in lines[1:])


def test_what_a_transaction_did_survives_a_restart_from_the_aof(tmp_path: Path) -> None:
    """Redis replays its AOF as ``default`` and (before 8.4) re-checks each replayed MULTI/EXEC
    against that user's rights: a ``default`` without any dropped every transaction on
    restart — a consumer group's read of several entries among them, whose entries were then
    neither pending nor delivered again (the chaos suite's lost events)."""
    users = platform_users(redis72=REDIS72)
    passwords = {user.name: generate_password() for user in users}
    acl = tmp_path / "users.acl"
    acl.write_text(acl_file(users, passwords))
    server = RedisServer(tmp_path / "redis", free_port(), BINARY, acl_file=acl,
                         username=OPERATOR, password=passwords[OPERATOR])  # fmt: skip
    server.start()
    try:
        operator = redis.Redis.from_url(server.url)
        operator.xgroup_create(CASES, GROUP, id="0", mkstream=True)
        for n in range(3):
            operator.xadd(CASES, {"n": n})
        stats = redis.Redis(port=server.port, username=Service.STATS,
                            password=passwords[Service.STATS])  # fmt: skip
        stats.xreadgroup(GROUP, "reader", {CASES: ">"}, count=10)  # replicated as MULTI/EXEC
        before = operator.xinfo_groups(CASES)[0]
        for client in (operator, stats):
            client.close()
        assert server.process is not None
        server.process.kill()  # SIGKILL: Redis comes back from its AOF alone
        server.process.wait(10)
        server.start()
        operator = redis.Redis.from_url(server.url)
        after = operator.xinfo_groups(CASES)[0]
        operator.close()
    finally:
        server.stop()
    assert (after["pending"], after["last-delivered-id"]) == (3, before["last-delivered-id"])
    assert "CRITICAL" not in (tmp_path / "redis" / "redis.log").read_text()
