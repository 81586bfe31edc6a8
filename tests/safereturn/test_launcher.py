"""The embedded launcher (``safereturn up``) on real processes: a killed service comes back, one
that keeps crashing is given up on, and Ctrl-C stops the services before Redis."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from safereturn.embedded import EmbeddedPlatform, RestartPolicy
from shared.names import Service
from shared.redis_acl import OPERATOR, with_credentials
from shared.redis_server import free_port

# What a service logs when Redis is gone: its reconnects are refused. (A service's own shutdown
# can still log "Connection closed by server" from a stream reader racing its broker's
# disconnect while Redis is up — seen in stats, a separate matter from the launcher's order.)
REDIS_GONE = re.compile(r"Error \d+ connecting|Connection refused|ConnectionRefusedError")


class Console:
    """The launcher's standard output, line by line, as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if found := re.search(pattern, line):
                        return found
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no line matching {pattern!r}:\n" + "\n".join(self.lines))
                self.changed.wait(left)

    @property
    def text(self) -> str:
        with self.changed:
            return "\n".join(self.lines)


def platform_env(data_dir: Path) -> dict[str, str]:
    """Free ports and a data folder of the test's own; no Redis there yet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERETURN_")}
    env["SAFERETURN_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    env["SAFERETURN_DATA_DIR"] = str(data_dir)
    for name in Service:
        env[f"SAFERETURN_{name.upper()}_HTTP_PORT"] = str(free_port())
    return env


def gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped by the launcher counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def kill_if_running(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Console, dict[str, str]]]:
    """``safereturn up`` in a session of its own, as a terminal's foreground job would be."""
    env = platform_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "safereturn", "up", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    console = Console(process)
    try:
        yield process, console, env
    finally:
        started = [int(pid) for pid in re.findall(r"\(pid (\d+)", console.text)]
        if process.poll() is None:
            process.kill()
            process.wait()
        kill_if_running(started)  # the services are in sessions of their own
        console.reader.join(10)
        assert process.stdout is not None
        process.stdout.close()


def users_connected(client: redis.Redis, until: set[str], within_s: float = 15) -> set[str]:
    """The Redis users with a connection open, once ``until`` are among them or time is up.
    A service is ready once it answers HTTP; its consumers may still be opening theirs."""
    deadline = time.monotonic() + within_s
    while True:
        connected = {client_info["user"] for client_info in client.client_list()}
        if until <= connected or time.monotonic() > deadline:
            return connected
        time.sleep(0.2)


def test_a_killed_service_comes_back_and_ctrl_c_stops_the_services_before_redis(
    launcher: tuple[subprocess.Popen[str], Console, dict[str, str]], tmp_path: Path
) -> None:
    process, console, env = launcher
    console.wait_for(r"^Platform running\.")
    pids = {
        m[1]: int(m[2])
        for m in re.finditer(r"^  (\w+) +http://\S+  ready  \(pid (\d+)\)", console.text, re.M)
    }
    assert set(pids) == set(Service)
    passwords = json.loads((tmp_path / "redis" / "credentials.json").read_text())
    assert (tmp_path / "redis" / "users.acl").stat().st_mode & 0o777 == 0o600
    client = redis.Redis.from_url(
        with_credentials(env["SAFERETURN_REDIS_URL"], OPERATOR, passwords[OPERATOR])
    )
    redis_pid = int(client.info("server")["process_id"])
    connected = users_connected(client, until=set(Service))
    client.close()
    assert set(Service) <= connected, connected  # each service connects as its own user
    with pytest.raises(redis.exceptions.AuthenticationError):  # default is off
        redis.Redis.from_url(env["SAFERETURN_REDIS_URL"]).ping()

    victim = pids[Service.VERIFICATION]
    os.kill(victim, signal.SIGKILL)
    log = tmp_path / "logs" / "verification.log"
    console.wait_for(
        rf"launcher: verification \(pid {victim}\) exited: killed by SIGKILL; "
        rf"its log: {re.escape(str(log))}; restarting it in 1 s",
        timeout=10,
    )
    back = console.wait_for(r"launcher: verification is back: ready \(pid (\d+), restart 1\)")
    pids[Service.VERIFICATION] = int(back[1])
    assert pids[Service.VERIFICATION] != victim
    port = env["SAFERETURN_VERIFICATION_HTTP_PORT"]
    assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200
    notes = [
        record["message"]
        for record in map(json.loads, log.read_text().splitlines())
        if record["logger"] == "launcher"
    ]  # the service's log: JSON lines, the note too
    assert any(note.startswith(f"verification (pid {victim}) exited: killed by SIGKILL")
               for note in notes)  # fmt: skip

    logs = {name: tmp_path / "logs" / f"{name}.log" for name in Service}
    seen = {name: path.stat().st_size for name, path in logs.items()}
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole job
    exited: dict[str, float] = {}
    watched = {**pids, "redis": redis_pid}
    deadline = time.monotonic() + 60
    while len(exited) < len(watched) and time.monotonic() < deadline:
        for name, pid in watched.items():
            if name not in exited and gone(pid):
                exited[name] = time.monotonic()
        time.sleep(0.02)
    assert process.wait(30) == 0, console.text
    assert set(exited) == set(watched), f"still running: {set(watched) - set(exited)}"
    assert max(exited[name] for name in pids) <= exited["redis"], exited
    redis_log = (tmp_path / "redis" / "redis.log").read_text()
    assert "Received SIGINT" not in redis_log  # only the launcher had Ctrl-C
    for name, path in logs.items():
        after_stop = path.read_bytes()[seen[name] :].decode(errors="replace")
        assert not REDIS_GONE.search(after_stop), f"{name} after Ctrl-C:\n{after_stop}"
    assert "Stopping: the services first, then Redis" in console.text


def test_a_service_that_keeps_crashing_at_start_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its port is taken: every restart exits before it is ready, after a longer wait each
    time; after the policy's restarts the launcher gives up and says why."""
    for key in [k for k in os.environ if k.startswith("SAFERETURN_")]:
        monkeypatch.delenv(key)
    port = free_port()
    monkeypatch.setenv("SAFERETURN_STATS_HTTP_PORT", str(port))
    lines: list[str] = []
    gave_up = threading.Event()
    platform = EmbeddedPlatform(
        tmp_path,
        f"redis://127.0.0.1:{free_port()}/0",
        say=lines.append,
        policy=RestartPolicy(first_delay_s=0.2, max_delay_s=0.4, max_restarts=2),
        names=(Service.STATS,),
        on_give_up=gave_up.set,
    )
    try:
        platform.start()
        [stats] = platform.services
        killed = stats.process.pid
        os.kill(killed, signal.SIGKILL)
        with socket.socket() as squatter:
            deadline = time.monotonic() + 10
            while True:  # the port is free once the killed process is gone
                try:
                    squatter.bind(("127.0.0.1", port))
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the killed service kept its port"
                    time.sleep(0.01)
            squatter.listen()
            assert gave_up.wait(100), "\n".join(lines)
    finally:
        platform.stop()
    said = "\n".join(lines)
    assert f"stats (pid {killed}) exited: killed by SIGKILL; its log: " in said
    assert "restarting it in 0.2 s (restart 1 of at most 2 in a row)" in said
    assert re.search(r"exited: exit code [1-9]\d* before it was ready", said)
    assert "restarting it in 0.4 s (restart 2 of at most 2 in a row)" in said
    assert "gave up after 2 restarts" in said
    assert platform.failure is not None
    assert "keeps exiting" in platform.failure
    assert "address already in use" in platform.failure.lower()  # the log's last lines
    assert stats.restarts == 2
