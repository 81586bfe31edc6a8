"""``safereturn integrators add|list|revoke`` on a real redis-server loaded with the platform's
ACL file and notify's real database: the integrator's user reads its stream through its group
and nothing else, is kept when the ACL file is written again, and is gone once revoked."""

import asyncio
import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, insert, select
from uuid6 import uuid7

from safereturn import admin
from safereturn.cli import main
from safereturn.redis_access import passwords_for, write_acl
from shared.db import outbox
from shared.names import Service, Stream, integrator_group, integrator_stream
from shared.redis_acl import OPERATOR, is_redis72, platform_users
from shared.redis_server import RedisServer, binary_version, find_redis_server, free_port

BINARY = find_redis_server()
VERSION = binary_version(BINARY)
pytestmark = pytest.mark.skipif(
    int(VERSION.split(".")[0]) < 7, reason=f"ACL selectors need Redis 7 (found {VERSION})"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A redis-server started with the ACL file the platform writes; notify's database in a
    data folder of its own."""
    monkeypatch.setenv("SAFERETURN_DATA_DIR", str(tmp_path / "data"))
    users = platform_users(redis72=is_redis72(VERSION))
    passwords = passwords_for(tmp_path / "credentials.json", users)
    acl = tmp_path / "users.acl"
    write_acl(acl, users, passwords)
    started = RedisServer(tmp_path / "redis", free_port(), BINARY, acl_file=acl,
                          username=OPERATOR, password=passwords[OPERATOR])  # fmt: skip
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_an_integrator_reads_its_own_stream_through_its_group_and_nothing_else(
    server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = ("--name", "ngo-a", "--province", "11", "--events", "case.received,case.closed")
    code, printed = run(capsys, "integrators", "add", *asked, "--redis-url", server.url)
    assert code == 0, printed
    assert "saved to the server's ACL file" in printed
    url = re.search(r"url\s+(\S+)", printed)
    password = re.search(r"password\s+(\S+)", printed)
    assert url is not None
    assert password is not None
    stream, group = integrator_stream("ngo-a"), integrator_group("ngo-a")
    assert f"stream    {stream}" in printed
    assert f"group     {group}" in printed

    operator = redis.Redis.from_url(server.url)
    integrator = redis.Redis.from_url(url[1])
    try:
        operator.xadd(stream, {"type": "case.received"})  # as notify does
        operator.xadd(integrator_stream("ngo-b"), {"type": "case.received"})
        read = integrator.xreadgroup(group, "c1", {stream: ">"})  # the group is there already
        assert len(read[0][1]) == 1
        integrator.xack(stream, group, read[0][1][0][0])
        for refused in (
            lambda: integrator.xreadgroup(group, "c1", {integrator_stream("ngo-b"): ">"}),
            lambda: integrator.xrange(str(Stream.CASES)),
            lambda: integrator.xadd(stream, {"type": "forged"}),
            lambda: integrator.xgroup_destroy(stream, group),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                refused()
    finally:
        integrator.close()

    acl_text = (server.acl_file or Path()).read_text()
    assert re.search(r"^user integrator-ngo-a on .*#[0-9a-f]{64}", acl_text, re.MULTILINE)
    assert password[1] not in acl_text
    # Writing the file again (a new release, new rules) keeps the integrator.
    credentials = server.directory.parent / "credentials.json"
    code, _ = run(capsys, "redis", "acl", "--write", str(server.acl_file), "--credentials",
                  str(credentials), "--redis-url", server.url)  # fmt: skip
    assert code == 0
    assert "user integrator-ngo-a on " in (server.acl_file or Path()).read_text()

    code, listed = run(capsys, "integrators", "list", "--redis-url", server.url)
    assert re.search(r"ngo-a\s+province 11\s.*unread 0, pending 0\s+events "
                     r"case.closed,case.received", listed), listed  # fmt: skip
    assert password[1] not in listed
    again = ("integrators", "add", "--name", "ngo-a", "--national", "--redis-url", server.url)
    assert run(capsys, *again)[0] == 1  # an active name is not taken twice

    asyncio.run(queue_for_stream(stream))  # notify queued an entry its relay has not published
    code, printed = run(capsys, "integrators", "revoke", "ngo-a", "--redis-url", server.url)
    assert code == 0, printed
    assert not operator.exists(stream)
    assert asyncio.run(unpublished(stream)) == 0  # dropped, not published after the revoke
    assert "integrator-ngo-a" not in (server.acl_file or Path()).read_text()
    with (
        contextlib.closing(redis.Redis.from_url(url[1])) as gone,
        pytest.raises(redis.exceptions.AuthenticationError),
    ):
        gone.ping()
    assert "ngo-a" not in run(capsys, "integrators", "list", "--redis-url", server.url)[1]
    revoked = run(capsys, "integrators", "list", "--revoked", "--redis-url", server.url)[1]
    assert re.search(r"ngo-a\s.*revoked", revoked)
    code, printed = run(capsys, "integrators", "revoke", "ngo-a", "--redis-url", server.url)
    assert code == 0, printed  # again: harmless, and finishes one Redis cut short
    assert "ngo-a was revoked already" in printed
    assert run(capsys, "integrators", "revoke", "nobody", "--redis-url", server.url)[0] == 1
    # The name may be taken again, with new credentials, and an empty stream: what a relay
    # published late for the old one is not the new one's to read.
    operator.xadd(stream, {"type": "case.received", "note": "late, for the revoked one"})
    code, printed = run(capsys, *again)
    assert code == 0, printed
    assert "national" in printed
    assert password[1] not in printed
    url = re.search(r"url\s+(\S+)", printed)
    assert url is not None
    with contextlib.closing(redis.Redis.from_url(url[1])) as renewed:
        assert renewed.xreadgroup(group, "c1", {stream: ">"}) == []
    operator.close()


async def queue_for_stream(stream: str) -> None:
    async with admin.database_of(Service.NOTIFY) as database, database.transaction() as session:
        await session.execute(insert(outbox).values(
            event_id=str(uuid7()), event_type="case.received", stream=stream,
            fields={"type": "case.received"}, created_at=datetime.now(UTC),
        ))  # fmt: skip


async def unpublished(stream: str) -> int:
    async with admin.database_of(Service.NOTIFY) as database, database.reading() as session:
        found = await session.execute(
            select(func.count()).select_from(outbox).where(outbox.c.stream == stream)
        )
        return int(found.scalar_one())


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        (["--name", "ngo*", "--national"], "name"),
        (["--name", "ngo-a", "--province", "1*"], "province"),
        (["--name", "ngo-a", "--province", "99"], "province"),
        (
            ["--name", "ngo-a", "--national", "--events", "case.duplicate_suspected"],
            "case.duplicate_suspected",
        ),
        (["--name", "ngo-a", "--national", "--events", ","], "events"),
    ],
)
def test_what_could_widen_or_blur_an_integrators_view_is_refused(
    asked: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("SAFERETURN_DATA_DIR", str(tmp_path))
    code, printed = run(capsys, "integrators", "add", *asked, "--redis-url",
                        "redis://127.0.0.1:1/0")  # fmt: skip
    assert code == 2, printed
    assert named in printed


def test_an_integrator_is_national_only_when_said_so(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["integrators", "add", "--name", "ngo-a", "--redis-url", "redis://127.0.0.1:1/0"])
    assert exited.value.code == 2
    assert "--province --national" in capsys.readouterr().err


def test_a_revoke_cut_short_by_redis_is_finished_by_the_next(
    server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = run(capsys, "integrators", "add", "--name", "ngo-d", "--province", "11",
                        "--redis-url", server.url)  # fmt: skip
    assert code == 0, printed
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    assert run(capsys, "integrators", "revoke", "ngo-d", "--redis-url", unreachable)[0] == 1
    url = re.search(r"url\s+(\S+)", printed)
    assert url is not None
    with contextlib.closing(redis.Redis.from_url(url[1])) as still:
        assert still.ping()  # its feed stopped, its user not yet deleted
    assert run(capsys, "integrators", "revoke", "ngo-d", "--redis-url", server.url)[0] == 0
    with (
        contextlib.closing(redis.Redis.from_url(url[1])) as gone,
        pytest.raises(redis.exceptions.AuthenticationError),
    ):
        gone.ping()


def test_an_integrator_whose_user_cannot_be_made_is_not_left_registered(
    server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    code, printed = run(capsys, "integrators", "add", "--name", "ngo-c", "--national",
                        "--redis-url", unreachable)  # fmt: skip
    assert code == 1, printed
    assert "ngo-c" not in run(capsys, "integrators", "list", "--redis-url", server.url)[1]
    again = ("integrators", "add", "--name", "ngo-c", "--national", "--redis-url", server.url)
    assert run(capsys, *again)[0] == 0
