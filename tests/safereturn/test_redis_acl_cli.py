"""``safereturn redis acl``: the ACL file and its kept passwords (integrators' users:
test_integrators_cli.py)."""

import argparse
import json
from pathlib import Path

import pytest

from safereturn.cli import _platform_settings, main
from shared.names import Service
from shared.redis_acl import OPERATOR
from shared.redis_server import binary_version, find_redis_server

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


def test_the_tools_act_as_the_operator_in_an_embedded_data_folder(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "credentials.json").write_text(json.dumps({OPERATOR: "s3cret"}))
    args = argparse.Namespace(data_dir=str(tmp_path), redis_url="redis://127.0.0.1:6390/0")
    assert _platform_settings(args)[1] == "redis://operator:s3cret@127.0.0.1:6390/0"
    # `safereturn up` starts Redis at the address as given, credentials apart
    assert _platform_settings(args, operator=False)[1] == "redis://127.0.0.1:6390/0"
