"""Embedded run mode: a local redis-server, every service as its own process, SQLite files.

Everything lives under one data folder: ``redis/`` (AOF), ``<service>.db`` and ``logs/``.
The launcher supervises the service processes (restarts with backoff, see ``RestartPolicy``)
and stops them before Redis.
"""

import _thread
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx
import redis

from safereturn import redis_access
from shared.names import Service
from shared.private import UMASK, private_dir, private_file
from shared.redis_acl import OPERATOR, is_redis72, platform_users, with_credentials
from shared.redis_server import RedisServer, answers, binary_version, find_redis_server
from shared.settings import settings_for

SERVICES = tuple(Service)
READY_TIMEOUT_S = 60.0
SUPERVISE_INTERVAL_S = 0.5
Say = Callable[[str], None]


class LaunchError(RuntimeError):
    """The platform could not be brought up; the message says which part and where to look."""


@dataclass(frozen=True)
class RestartPolicy:
    """How the launcher restarts a service process that exited on its own.

    The delay doubles with each exit in a row (``first_delay_s``, twice that, … up to
    ``max_delay_s``); a process that stayed up ``stable_s`` after it was ready starts the count
    again. After ``max_restarts`` restarts in a row that did not stay up the service is taken
    to be broken (a bad setting, a port in use, a failing migration): the launcher gives up and
    stops the platform rather than run it without that service.
    """

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_restarts: int = 5
    stable_s: float = 60.0

    def delay(self, exits_in_a_row: int) -> float:
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** (exits_in_a_row - 1)))


@dataclass
class ServiceProcess:
    name: str
    url: str
    log: Path
    process: subprocess.Popen[bytes]
    restarts: int = 0
    exits_in_a_row: int = 0
    ready_at: float | None = None
    restart_at: float | None = None  # exited; to be started again at this monotonic time
    given_up: bool = False

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


@dataclass
class EmbeddedPlatform:
    """The whole platform on this machine, started and stopped as one, its services restarted
    when they exit on their own."""

    data_dir: Path
    redis_url: str
    redis_server: RedisServer | None = None
    services: list[ServiceProcess] = field(default_factory=list)
    say: Say = print
    policy: RestartPolicy = RestartPolicy()
    names: tuple[str, ...] = SERVICES
    # Giving up stops the platform as Ctrl-C does: the main thread gets a KeyboardInterrupt.
    on_give_up: Callable[[], None] = _thread.interrupt_main
    failure: str | None = None  # why the launcher gave up, if it did
    operator_url: str = ""
    """Redis as the operator (every right): the launcher, the ``safereturn`` tools, the demo."""
    access_env: dict[str, str] = field(default_factory=dict)
    """Each service's own Redis URL and the event signing keys (``redis_access``)."""
    redis_urls: dict[str, str] = field(default_factory=dict)
    """Party (ACL user) → its Redis URL, for the demo."""
    _stopping: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None

    @property
    def redis_description(self) -> str:
        client = redis.Redis.from_url(self.operator_url or self.redis_url)
        try:
            info = client.info("server")
        finally:
            client.close()
        version = str(info["redis_version"])
        if self.redis_server is None:
            origin = "already running"
        else:
            origin = f"{self.redis_server.binary}, pid {info['process_id']}"
        if int(version.split(".", maxsplit=1)[0]) < 7:
            origin += "; below 7, as production must not be: install Debian's redis-server"
        elif self.access_env:
            origin += "; ACLs on, a user per party"
        return f"{self.redis_url} (Redis {version}, {origin})"

    def start(self) -> None:
        private_dir(self.data_dir)
        self._start_redis()
        private_dir(self.data_dir / "logs")
        for name in self.names:
            settings = settings_for(name)
            url = f"http://{settings.http_host}:{settings.port}"
            log = self.data_dir / "logs" / f"{name}.log"
            self.services.append(ServiceProcess(name, url, log, self._spawn(name, log)))
        self._wait_until_ready()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def _spawn(self, name: str, log: Path) -> subprocess.Popen[bytes]:
        env = os.environ | {
            "SAFERETURN_DATA_DIR": str(self.data_dir),
            "SAFERETURN_REDIS_URL": self.redis_url,
            "SAFERETURN_EMBEDDED": "true",  # intake's keys are found on loopback
            **self.access_env,
        }
        with private_file(log).open("ab") as out:
            # A session of its own: Ctrl-C reaches only the launcher, which stops the services
            # before Redis (with Ctrl-C at every process at once, they lose Redis mid-batch).
            return subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", f"services.{name}"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=UMASK,  # databases, key files: the owner's only
            )

    def _start_redis(self) -> None:
        directory = self.data_dir / "redis"
        credentials = directory / "credentials.json"
        if answers(self.redis_url):  # someone else's Redis: the URL given is its operator's
            self.operator_url = self.redis_url
            try:
                self.access_env = redis_access.provision(
                    self.redis_url, self.redis_url, credentials, self.data_dir
                )
            except redis.RedisError as error:
                raise LaunchError(f"could not create the platform's Redis users at "
                                  f"{self.redis_url}: {error}") from error  # fmt: skip
            self._note_urls(credentials)
            return
        url = urlsplit(self.redis_url)
        if url.hostname not in {"127.0.0.1", "localhost"}:
            raise LaunchError(f"no Redis answers at {self.redis_url}")
        binary = find_redis_server()
        version = binary_version(binary)
        server = RedisServer(directory, url.port or 6379, binary)
        if int(version.split(".", maxsplit=1)[0]) >= 7:  # ACL selectors need Redis 7
            redis72 = is_redis72(version)
            users = platform_users(redis72=redis72)
            passwords = redis_access.passwords_for(credentials, users)
            server.acl_file = directory / "users.acl"
            redis_access.write_acl(server.acl_file, users, passwords)
            server.username, server.password = OPERATOR, passwords[OPERATOR]
            self.access_env = redis_access.service_env(
                self.redis_url, passwords, self.data_dir, waitaof=redis72
            )
        self.redis_server = server
        server.start()
        self.operator_url = server.url if server.username else self.redis_url
        self._note_urls(credentials)

    def _note_urls(self, credentials: Path) -> None:
        passwords: dict[str, str] = (
            json.loads(credentials.read_text()) if credentials.exists() and self.access_env
            else {}
        )  # fmt: skip
        self.redis_urls = {user: with_credentials(self.redis_url, user, password)
                           for user, password in passwords.items()}  # fmt: skip
        self.redis_urls[OPERATOR] = self.operator_url

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = list(self.services)
        with httpx.Client(timeout=1.0) as client:
            while waiting:
                for service in list(waiting):
                    if service.process.poll() is not None:
                        raise LaunchError(
                            f"{service.name} exited with {service.process.returncode}; "
                            f"last lines of {service.log}:\n{service.log_tail()}"
                        )
                    if _ready(client, service):
                        service.ready_at = time.monotonic()
                        waiting.remove(service)
                if time.monotonic() > deadline:
                    names = ", ".join(s.name for s in waiting)
                    raise LaunchError(f"not ready after {READY_TIMEOUT_S:.0f}s: {names}")
                time.sleep(0.2)

    def _supervise(self) -> None:
        with httpx.Client(timeout=0.5) as client:
            while not self._stopping.wait(SUPERVISE_INTERVAL_S):
                for service in self.services:
                    try:
                        self._check(service, client)
                    except Exception as error:  # supervision must go on
                        self.say(f"  launcher: could not supervise {service.name}: {error!r}")

    def _check(self, service: ServiceProcess, client: httpx.Client) -> None:
        now = time.monotonic()
        if service.given_up or self._stopping.is_set():
            return
        if service.restart_at is not None:
            if now >= service.restart_at:
                service.restart_at, service.ready_at = None, None
                service.restarts += 1
                service.process = self._spawn(service.name, service.log)
            return
        code = service.process.poll()
        if code is None:
            if service.ready_at is None and _ready(client, service):
                service.ready_at = time.monotonic()
                self._note(service, f"{service.name} is back: ready (pid {service.process.pid}, "
                                    f"restart {service.restarts})")  # fmt: skip
            return
        self._exited(service, code, now)

    def _exited(self, service: ServiceProcess, code: int, now: float) -> None:
        stayed_up = service.ready_at is not None and now - service.ready_at >= self.policy.stable_s
        service.exits_in_a_row = 1 if stayed_up else service.exits_in_a_row + 1
        what = f"{service.name} (pid {service.process.pid}) exited: {exit_reason(code)}"
        if service.ready_at is None:
            what += " before it was ready"
        if service.exits_in_a_row > self.policy.max_restarts:
            service.given_up = True
            self.failure = (
                f"{what}; it keeps exiting ({self.policy.max_restarts} restarts in a row did "
                f"not stay up), so the launcher gave up and stops the platform. Last lines of "
                f"{service.log}:\n{service.log_tail()}"
            )
            self._note(service, f"{what}: gave up after {self.policy.max_restarts} restarts")
            self.on_give_up()
            return
        delay = self.policy.delay(service.exits_in_a_row)
        service.restart_at = now + delay
        self._note(service, f"{what}; its log: {service.log}; restarting it in {delay:g} s "
                            f"(restart {service.exits_in_a_row} of at most "
                            f"{self.policy.max_restarts} in a row)")  # fmt: skip

    def _note(self, service: ServiceProcess, line: str) -> None:
        """On the console, and in the service's own log where its exit shows (a JSON line,
        as the service's own are, unless it logs text)."""
        self.say(f"  launcher: {line}")
        if settings_for(service.name).log_format == "text":
            written = f"{time.strftime('%Y-%m-%d %H:%M:%S')} launcher: {line}"
        else:
            written = json.dumps({"time": datetime.now(UTC).isoformat(), "level": "WARNING",
                                  "service": service.name, "logger": "launcher",
                                  "message": line}, ensure_ascii=False)  # fmt: skip
        with contextlib.suppress(OSError), service.log.open("a") as log:
            log.write(f"{written}\n")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop restarting; SIGTERM every service (they finish their batch and close), wait for
        them, then stop Redis."""
        with _ctrl_c_ignored():  # a second Ctrl-C must not leave services running
            self._stopping.set()
            if self._supervisor is not None:
                self._supervisor.join()
            for service in self.services:
                if service.process.poll() is None:
                    service.process.terminate()
            deadline = time.monotonic() + timeout
            for service in self.services:
                try:
                    service.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    service.process.kill()
                    service.process.wait()
            self.services.clear()
            if self.redis_server is not None:
                self.redis_server.stop()


def _ready(client: httpx.Client, service: ServiceProcess) -> bool:
    try:
        return client.get(f"{service.url}/ready").status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def running(data_dir: Path, redis_url: str, say: Say = print) -> Iterator[EmbeddedPlatform]:
    platform = EmbeddedPlatform(data_dir, redis_url, say=say)
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()


def wait_for_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
