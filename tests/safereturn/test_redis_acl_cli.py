"""``safereturn redis acl``: the ACL file, its kept passwords, and integrators' users."""

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from safereturn.cli import _platform_settings, main
from safereturn.redis_access import passwords_for, write_acl
from shared.names import Service, public_stream
from shared.redis_acl import OPERATOR, integrator_group, is_redis72, platform_users
from shared.redis_server import RedisServer, binary_version, find_redis_server, free_port

BINARY = find_redis_server()
VERSION = binary_version(BINARY)
needs_redis7 = pytest.mark.skipif(
    int(VERSION.split(".")[0]) < 7, reason=f"ACL selectors need Redis 7 (found {VERSION})"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_the_acl_file_is_printed_with_kept_passwords_hashed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = tmp_path / "credentials.json"
    args = ("redis", "acl", "--credentials", str(credentials), "--redis-version", "7.0.15",
            "--redis-url", "redis://127.0.0.1:1/0")  # fmt: skip
    code, printed = run(capsys, *args)
    assert code == 0
    users = {line.split()[1] for line in printed.splitlines()}
    assert users == {"default", *Service, "submitter", "monitor", OPERATOR}
    passwords = json.loads(credentials.read_text())
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert not any(password in printed for password in passwords.values())
    assert "+waitaof" not in printed  # Redis 7.0 has no WAITAOF: its ACL would not load
    assert run(capsys, *args)[1] == printed  # the same passwords again, not new ones


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server started with the ACL file the platform writes."""
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


@needs_redis7
def test_an_integrator_reads_its_provinces_stream_through_its_group_and_nothing_else(
    server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    operator = redis.Redis.from_url(server.url)
    for province in ("11", "12"):
        operator.xadd(public_stream(province), {"type": "case.received"})
    code, printed = run(capsys, "redis", "acl", "integrator", "ngo-a", "--province", "11",
                        "--redis-url", server.url)  # fmt: skip
    assert code == 0, printed
    assert "saved to the server's ACL file" in printed
    url = re.search(r"url\s+(\S+)", printed)
    assert url is not None
    integrator = redis.Redis.from_url(url[1])
    group = integrator_group("ngo-a")
    try:
        integrator.xgroup_create(public_stream("11"), group, id="0")
        read = integrator.xreadgroup(group, "c1", {public_stream("11"): ">"})
        assert len(read[0][1]) == 1
        with pytest.raises(redis.exceptions.NoPermissionError):
            integrator.xgroup_create(public_stream("12"), group, id="0")
        with pytest.raises(redis.exceptions.NoPermissionError):
            integrator.xadd(public_stream("11"), {"type": "forged"})
    finally:
        integrator.close()
    acl_text = (server.acl_file or Path()).read_text()
    assert re.search(r"^user integrator-ngo-a on .*#[0-9a-f]{64}", acl_text, re.MULTILINE)
    # Writing the file again (a new release, new rules) keeps the integrator.
    credentials = server.directory.parent / "credentials.json"
    code, _ = run(capsys, "redis", "acl", "--write", str(server.acl_file), "--credentials",
                  str(credentials), "--redis-url", server.url)  # fmt: skip
    assert code == 0
    assert "user integrator-ngo-a on " in (server.acl_file or Path()).read_text()
    operator.close()


def test_an_integrator_name_or_province_that_could_widen_its_keys_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for bad in (["ngo*"], ["ngo-a", "--province", "1*"]):
        code, printed = run(capsys, "redis", "acl", "integrator", *bad, "--redis-url",
                            "redis://127.0.0.1:1/0")  # fmt: skip
        assert code == 2, printed


def test_the_tools_act_as_the_operator_in_an_embedded_data_folder(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "credentials.json").write_text(json.dumps({OPERATOR: "s3cret"}))
    args = argparse.Namespace(data_dir=str(tmp_path), redis_url="redis://127.0.0.1:6390/0")
    assert _platform_settings(args)[1] == "redis://operator:s3cret@127.0.0.1:6390/0"
    # `safereturn up` starts Redis at the address as given, credentials apart
    assert _platform_settings(args, operator=False)[1] == "redis://127.0.0.1:6390/0"
