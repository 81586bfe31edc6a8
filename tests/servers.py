"""Real servers for the tests: Redis and PostgreSQL, from the environment, a Docker engine,
or local binaries, in that order. Each yields a URL and cleans up after itself.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import redis

from shared.redis_server import RedisServer, find_redis_server, free_port


def docker_answers() -> bool:
    """Whether a Docker engine answers on its socket (the client alone is not enough)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return True  # a remote engine was configured on purpose: let testcontainers use it
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and b" 200" in status_line
    except OSError:
        return False


def _configure_like_production(url: str) -> None:
    """What shared.redis_server starts with and docs/reliability.md asks of production."""
    client = redis.Redis.from_url(url)
    try:
        client.config_set("appendonly", "yes")
        client.config_set("appendfsync", "always")
        client.config_set("aof-use-rdb-preamble", "no")
    finally:
        client.close()


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    if url := os.environ.get("TEST_REDIS_URL"):
        _configure_like_production(url)  # a throwaway server: the tests flush it anyway
        yield url
    elif docker_answers():
        from testcontainers.redis import RedisContainer  # noqa: PLC0415

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            url = f"redis://{host}:{container.get_exposed_port(6379)}/0"
            _configure_like_production(url)
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="safereturn-redis-") as directory:
            server = RedisServer(Path(directory), free_port(), find_redis_server())
            server.start()
            try:
                yield server.url
            finally:
                server.stop()


def pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


@contextlib.contextmanager
def _local_postgres() -> Iterator[str]:
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise LookupError("no PostgreSQL: set TEST_DATABASE_URL, or install initdb and pg_ctl")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    directory = Path(tempfile.mkdtemp(prefix="safereturn-pg-"))
    if as_root:
        shutil.chown(directory, "postgres")
    port = free_port()
    data = directory / "data"
    try:
        _run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"])
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w",
              "start"])  # fmt: skip
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "stop"])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A server URL (``postgresql://``, no driver); raises LookupError if none can be had."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
    elif docker_answers():
        from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
    else:
        with _local_postgres() as url:
            yield url
