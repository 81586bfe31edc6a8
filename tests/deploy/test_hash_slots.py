"""Toward Redis Cluster: every multi-key operation the platform runs stays within one hash
slot. Redis in cluster mode refuses a command, transaction or script whose keys hash to
different slots (CROSSSLOT) even when one node holds every slot — so the whole demo scenario
(ACL users, signed events, dead letters, retention, every service) is played against such a
server with the ordinary client, and nothing may be refused."""

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.redis_server import find_redis_server, free_port
from tests.e2e.test_demo import assert_the_scenario, demo_env, run_demo

REFUSAL = r"CROSSSLOT|don't hash to the same slot"  # the error, with or without its code


@pytest.fixture
def one_node_cluster(tmp_path: Path) -> Iterator[str]:
    """A cluster-enabled redis-server that holds all 16,384 slots: its URL."""
    port, folder = free_port(), tmp_path / "redis-cluster"
    folder.mkdir()
    server = subprocess.Popen(
        [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
         "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)  # type: ignore[no-untyped-call]
                break
            except redis.ConnectionError:
                assert server.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not answer"
                time.sleep(0.1)
        while client.cluster("info")["cluster_state"] != "ok":  # type: ignore[no-untyped-call]
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.1)
        with pytest.raises(redis.ResponseError, match=REFUSAL):  # what it would refuse
            client.mset({"{one}key": 1, "{other}key": 2})
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        server.terminate()
        server.wait(10)


@pytest.mark.timeout(200)
def test_the_scenario_runs_on_a_cluster_mode_redis_without_a_cross_slot_command(
    tmp_path: Path, one_node_cluster: str
) -> None:
    env = demo_env() | {"SAFERETURN_REDIS_URL": one_node_cluster}
    data = tmp_path / "data"
    out = run_demo(data, env, timeout=150)
    assert "already running; ACLs on, a user per party" in out
    assert_the_scenario(out, data)
    logs = "\n".join(path.read_text(errors="replace") for path in (data / "logs").glob("*.log"))
    assert not re.search(REFUSAL, out + logs)
