"""A real Redis Cluster on loopback: three primaries and a replica of each, ``redis-server``
processes in cluster mode with the platform's ACL users on every node (ACLs are per node),
fsyncing their AOF before every reply. A primary can be SIGKILLed: its replica takes over
within about two seconds (``cluster-node-timeout`` 1000 ms), and the killed node, started
again from its folder, comes back as a replica."""

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from shared.redis_connect import sync_client
from shared.redis_server import RedisServer, binary_version, find_redis_server, free_ports

PRIMARIES = 3
NODE_TIMEOUT_MS = 1000


@dataclass
class LocalCluster:
    directory: Path
    binary: str
    acl_file: Path
    username: str
    password: str
    nodes: list[RedisServer] = field(default_factory=list, init=False)

    @property
    def address(self) -> str:
        """A seed node's URL without credentials (cluster clients learn the rest from it)."""
        return self.nodes[0].address

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def __post_init__(self) -> None:
        chosen = free_ports(4 * PRIMARIES)  # a client port and a cluster bus port per node
        ports, buses = chosen[: 2 * PRIMARIES], chosen[2 * PRIMARIES :]
        for port, bus in zip(ports, buses, strict=True):
            folder = self.directory / f"node-{port}"
            options = ["--cluster-enabled", "yes", "--cluster-port", str(bus),
                       "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                       "--cluster-require-full-coverage", "no",
                       "--cluster-replica-validity-factor", "0",
                       "--masteruser", self.username, "--masterauth", self.password]  # fmt: skip
            self.nodes.append(RedisServer(
                folder, port, self.binary, acl_file=folder / "users.acl",
                username=self.username, password=self.password, options=options,
            ))  # fmt: skip

    def start(self, *, timeout: float = 60.0) -> None:
        """Six nodes, the slots split over the first three, a replica for each."""
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            assert node.acl_file is not None
            shutil.copy(self.acl_file, node.acl_file)  # a node may ACL SAVE: each its own file
            node.start()
        subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "--user", self.username,
             "--pass", self.password, "--no-auth-warning", "--cluster", "create",
             *(f"127.0.0.1:{node.port}" for node in self.nodes), "--cluster-replicas", "1",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
        self.wait_healthy(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def client(self) -> redis.Redis:
        return sync_client(self.url, cluster=True)

    def primary_of(self, key: str) -> RedisServer:
        """The node whose process holds ``key``'s slot now."""
        with contextlib.closing(self.client()) as client:
            owner = client.get_node_from_key(key)  # type: ignore[attr-defined]
            return next(node for node in self.nodes if node.port == int(owner.port))

    def healthy(self) -> bool:
        """Every slot served, by primaries each with a replica in sync, as every live node
        sees it."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                return False
            try:
                with contextlib.closing(redis.Redis.from_url(node.url, socket_timeout=2)) as one:
                    info = one.cluster("info")
                    replication = one.info("replication")
            except redis.RedisError:
                return False
            if info.get("cluster_state") != "ok" or int(info["cluster_slots_ok"]) != 16384:
                return False
            if replication["role"] == "master" and int(replication["connected_slaves"]) < 1:
                return False
            if replication["role"] == "slave" and replication["master_link_status"] != "up":
                return False
        return True

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster did not become healthy; see {self.directory}")
            time.sleep(0.2)

    def fail_over(self, key: str, *, timeout: float = 60.0) -> None:
        """SIGKILL the primary holding ``key``, wait until its replica serves the slot, then
        start the killed node again (it rejoins as a replica) and wait until all is whole."""
        victim = self.primary_of(key)
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        deadline = time.monotonic() + timeout
        while self._owner_port(key) in (None, victim.port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no replica took over {key}'s slot")
            time.sleep(0.1)
        victim.start(timeout=timeout)
        self.wait_healthy(timeout)

    def _owner_port(self, key: str) -> int | None:
        """The port of the primary serving ``key``'s slot, as a live node says."""
        slot = key_slot(key.encode())
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            with (
                contextlib.suppress(redis.RedisError),
                contextlib.closing(redis.Redis.from_url(node.url, socket_timeout=2)) as one,
            ):
                for start, end, primary, *_ in one.cluster("slots"):
                    if start <= slot <= end:
                        return int(primary[1])
        return None


def unavailable() -> str | None:
    """Why no cluster can be started here, or None (``make redis`` installs what it needs)."""
    version = binary_version(find_redis_server())
    if int(version.split(".")[0]) < 7:
        return f"a local Redis Cluster needs redis-server 7 (--cluster-port); found {version}"
    if shutil.which("redis-cli") is None:
        return "a local Redis Cluster is created with redis-cli (Debian's redis-tools)"
    return None


@contextlib.contextmanager
def local_cluster(
    directory: Path, binary: str, acl_file: Path, username: str, password: str
) -> Iterator[LocalCluster]:
    cluster = LocalCluster(directory, binary, acl_file, username, password)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def replicated_xadd(client: redis.Redis, stream: str, fields: Mapping[str, str]) -> None:
    """XADD, then WAIT on the same connection until the primary's replica holds the entry,
    as a publisher to a cluster must (a failover loses what only the primary had): raises
    when it is not confirmed, so the caller sends the same entry again."""
    node = client.get_node_from_key(stream)  # type: ignore[attr-defined]
    try:
        pipe = node.redis_connection.pipeline(transaction=False)
        pipe.xadd(stream, dict(fields))
        pipe.wait(1, 1000)
        _, replicas = pipe.execute()
    except redis.RedisError:
        client.nodes_manager.initialize()  # type: ignore[attr-defined]  # the slots moved?
        raise
    if int(replicas) < 1:
        raise redis.RedisError("no replica confirmed the entry")
