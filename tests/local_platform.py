"""The platform as production runs it, for the chaos suite and the benchmarks: every service
its own process (as many replicas of each as asked; the chaos suite runs two of verification,
support and stats), real Redis 7 with AOF in its own folder, a database per service
(PostgreSQL or SQLite files), and the peers notify talks to on loopback. Each process can be
SIGKILLed and restarted on its port; Redis restarts from its AOF."""

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from safereturn import admin, redis_access
from safereturn.sinks import HttpSink, SmtpSink
from shared.names import Service, Stream
from shared.redis_acl import (
    OPERATOR,
    generate_password,
    is_redis72,
    platform_users,
    with_credentials,
)
from shared.redis_connect import sync_client
from shared.redis_server import (
    RedisServer,
    binary_version,
    find_redis_server,
    free_port,
    free_ports,
)
from tests import servers
from tests.redis_cluster import LocalCluster

STARTUP_TIMEOUT_S = 90.0
CHAOS_REPLICAS = {Service.VERIFICATION: 2, Service.SUPPORT: 2, Service.STATS: 2}


@dataclass
class Process:
    """One service process: its name, its port, its consumer name and how often it restarted."""

    name: str
    service: str
    port: int
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Platform:
    """Started processes, their URLs, and how to kill and restart them."""

    directory: Path
    env: dict[str, str]
    redis: RedisServer | LocalCluster
    smtp: SmtpSink
    webhooks: HttpSink
    processes: list[Process] = field(default_factory=list)
    redis_urls: dict[str, str] = field(default_factory=dict)  # party (ACL user) → its URL
    kills: list[str] = field(default_factory=list)
    redis_restarts: int = 0

    def urls(self, service: str) -> list[str]:
        return [p.url for p in self.processes if p.service == service]

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def case_partitions(self) -> int:
        return int(self.env.get("SAFERETURN_CASE_STREAM_PARTITIONS", "1"))

    @property
    def cluster(self) -> bool:
        return isinstance(self.redis, LocalCluster)

    def redis_client(self, **options: Any) -> redis.Redis:
        """A client as the operator: cluster-aware on a cluster."""
        return sync_client(self.redis_url, cluster=self.cluster, **options)

    def start(self, process: Process) -> None:
        process.starts += 1
        env = self.env | {
            f"SAFERETURN_{process.service.upper()}_HTTP_PORT": str(process.port),
            "SAFERETURN_CONSUMER_NAME": f"{process.name}@chaos-{process.starts}",
        }
        with (self.directory / "logs" / f"{process.name}.log").open("ab") as log:
            process.popen = subprocess.Popen(
                [sys.executable, "-m", f"services.{process.service}"],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_ready(self, process: Process, timeout: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited:\n{self.log_tail(process.name)}")
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(f"{process.url}/ready", timeout=2)
                if answer.status_code == 200 and answer.json()["service"] == process.service:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{process.name} not ready:\n{self.log_tail(process.name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.directory / "logs" / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop_process(self, process: Process) -> None:
        """SIGTERM, and wait for the process to finish what it is doing and exit."""
        if process.popen is not None and process.alive():
            process.popen.terminate()
            process.popen.wait(30)

    def kill(self, process: Process) -> None:
        """SIGKILL: no shutdown hook runs, as when a node dies."""
        if process.popen is not None and process.alive():
            process.popen.send_signal(signal.SIGKILL)
            process.popen.wait(10)
            self.kills.append(process.name)

    def kill_redis(self) -> None:
        """SIGKILL Redis, then start it again from its AOF: same port, same folder. On a
        cluster, SIGKILL the primary of the case stream: its replica takes over, and the
        killed node comes back as a replica."""
        self.redis_restarts += 1
        if isinstance(self.redis, LocalCluster):
            self.redis.fail_over(Stream.CASES)
            return
        popen = self.redis.process
        if popen is not None and popen.poll() is None:
            popen.send_signal(signal.SIGKILL)
            popen.wait(10)
        self.redis.start(timeout=60)

    def stop(self) -> None:
        for process in self.processes:
            if process.alive() and process.popen is not None:
                process.popen.terminate()
        for process in self.processes:
            if process.popen is None:
                continue
            try:
                process.popen.wait(15)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(10)


def _service_env(redis_url: str, directory: Path, smtp: SmtpSink) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERETURN_")}
    return env | {
        "SAFERETURN_REDIS_URL": redis_url,
        "SAFERETURN_DATA_DIR": str(directory / "data"),
        "SAFERETURN_RECLAIM_IDLE_MS": "5000",  # above a slow batch here, or replicas steal work
        "SAFERETURN_MAINTENANCE_INTERVAL_S": "1.0",
        "SAFERETURN_REVOCATION_REFRESH_S": "1.0",
        "SAFERETURN_LOG_LEVEL": "WARNING",
        "SAFERETURN_EMBEDDED": "true",  # one machine: intake's keys are found on loopback
        "SAFERETURN_RATE_LIMIT_PER_MINUTE": "1000000",  # the load is many agencies' worth
        "SAFERETURN_TOKEN_TTL_S": "86400",
        "SAFERETURN_NOTIFY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",  # receiver on loopback
        "SAFERETURN_NOTIFY_SMTP_HOST": "127.0.0.1",
        "SAFERETURN_NOTIFY_SMTP_PORT": str(smtp.port),
        "SAFERETURN_NOTIFY_RETRY_BASE_S": "0.5",
        "SAFERETURN_NOTIFY_RETRY_CAP_S": "5",
        # Webhooks' day-long schedule, compressed to the waits mail and SMS have here.
        "SAFERETURN_NOTIFY_WEBHOOK_RETRY_SCHEDULE_S": "0.5,1,2,4,5",
        # One SMTP relay carries every agency's mail: at the default 120 a minute per endpoint
        # it alone would take hours to deliver a full-size run.
        "SAFERETURN_NOTIFY_ENDPOINT_RATE_PER_MINUTE": "100000",
        # The chaos checks read every event back from the streams, and a full-size run lasts
        # over the hour after which retention trims acknowledged entries.
        "SAFERETURN_STREAM_KEEP_ACKNOWLEDGED_S": "86400",
    }


@contextlib.contextmanager
def _databases(kind: str, given: str | None) -> Iterator[dict[str, str]]:
    """``SAFERETURN_<SERVICE>_DATABASE_URL`` for each service: SQLite files, or a database
    per service on the PostgreSQL server given, else on a throwaway one."""
    if kind == "sqlite":
        yield {}
        return
    if kind != "postgresql":
        raise ValueError(f"no such database kind: {kind} (sqlite or postgresql)")
    with contextlib.ExitStack() as stack:
        server = given or stack.enter_context(servers.postgres_url())
        urls = stack.enter_context(scratch_databases(server, list(Service)))
        yield {f"SAFERETURN_{s.upper()}_DATABASE_URL": url
               for s, url in zip(Service, urls, strict=True)}  # fmt: skip


@contextlib.contextmanager
def scratch_databases(server: str, purposes: Sequence[str]) -> Iterator[list[str]]:
    """A database on the PostgreSQL server for each purpose, dropped afterwards: their
    SQLAlchemy URLs (asyncpg), in the order given."""
    names = [f"run_{secrets.token_hex(4)}_{purpose}" for purpose in purposes]
    asyncio.run(_each(server, [f'CREATE DATABASE "{n}"' for n in names]))
    try:
        base = server.replace("postgresql://", "postgresql+asyncpg://", 1).rsplit("/", 1)[0]
        yield [f"{base}/{n}" for n in names]
    finally:
        asyncio.run(_each(server, [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names]))


async def _each(server: str, statements: list[str]) -> None:
    connection = await asyncpg.connect(server)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def running(
    kind: str,
    directory: Path,
    postgres: str | None = None,
    replicas: Mapping[Service, int] = CHAOS_REPLICAS,
    extra: Mapping[str, str] | None = None,
    redis_cluster: bool = False,
) -> Iterator[Platform]:
    """Everything started, and everything stopped afterwards, also on failure; ``replicas``
    says how many processes run each service (one if not named); ``extra``: more settings;
    ``redis_cluster``: a Redis Cluster of three primaries with a replica each, each batch the
    relays publish confirmed by a replica too, rather than one Redis."""
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(parents=True, exist_ok=True)
    redis, access, passwords = _redis_with_acls(directory, redis_cluster)
    with contextlib.ExitStack() as stack:
        stack.callback(redis.stop)
        redis.start()
        smtp = stack.enter_context(SmtpSink())
        webhooks = stack.enter_context(HttpSink())
        settings = (
            _service_env(redis.url, directory, smtp)
            | access
            | stack.enter_context(_databases(kind, postgres))
            | dict(extra or {})
        )
        platform = Platform(directory, settings, redis, smtp, webhooks)
        platform.redis_urls = {user: with_credentials(redis.url, user, password)
                               for user, password in passwords.items()}  # fmt: skip
        stack.callback(platform.stop)
        names = [(str(s), s) for s in Service]
        names += [(f"{s}-{n}", s) for s in Service for n in range(2, replicas.get(s, 1) + 1)]
        ports = free_ports(len(names))
        platform.processes += [
            Process(n, s, port) for (n, s), port in zip(names, ports, strict=True)
        ]
        for process in platform.processes[: len(Service)]:  # how services find intake's JWKS
            settings[f"SAFERETURN_{process.service.upper()}_HTTP_PORT"] = str(process.port)
        with environment(settings):  # as production: migrations first, then every process
            asyncio.run(admin.migrate(lambda _: None, list(Service)))
        settings["SAFERETURN_MIGRATE_ON_START"] = "false"
        for process in platform.processes:
            platform.start(process)
        for process in platform.processes:
            platform.wait_ready(process)
        yield platform


def _redis_with_acls(
    directory: Path, cluster: bool
) -> tuple[RedisServer | LocalCluster, dict[str, str], dict[str, str]]:
    """Redis (or a cluster) with a user per party (the harness itself is the operator), the
    services' settings that make each connect as its own user and sign its events, and each
    party's password."""
    binary = find_redis_server()
    redis72 = is_redis72(binary_version(binary))
    users = platform_users(redis72=redis72)
    passwords = {user.name: generate_password() for user in users}
    acl = directory / "redis" / "users.acl"
    redis_access.write_acl(acl, users, passwords)
    redis: RedisServer | LocalCluster
    if cluster:
        redis = LocalCluster(directory / "redis", binary, acl, OPERATOR, passwords[OPERATOR])
    else:
        redis = RedisServer(directory / "redis", free_port(), binary, acl_file=acl,
                            username=OPERATOR, password=passwords[OPERATOR])  # fmt: skip
    access = redis_access.service_env(redis.address, passwords, directory / "data",
                                      waitaof=redis72)  # fmt: skip
    if cluster:  # a batch on a primary's replica too survives the primary's failover
        access |= {"SAFERETURN_REDIS_CLUSTER": "true", "SAFERETURN_REDIS_WAITAOF_REPLICAS": "1"}
    return redis, access, passwords


def make_client(role: str, province: str | None = None) -> tuple[str, str]:
    """A client made the way an operator makes one (``safereturn clients create``), in the
    platform's ``environment``: its id and secret."""
    create = admin.create_client(lambda _: None, f"{role} {province or ''}", role, province, None)
    with ThreadPoolExecutor(1) as pool:  # a fresh event loop, whatever thread calls
        credentials = pool.submit(asyncio.run, create).result()
    return credentials.client.client_id, credentials.secret


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """The platform's settings for this process too: the operator commands (making clients,
    migrating, verifying audit chains) read them as ``safereturn`` would."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("SAFERETURN_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("SAFERETURN_")})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("SAFERETURN_")]:
            del os.environ[key]
        os.environ.update(saved)
