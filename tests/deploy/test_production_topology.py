"""The topology deploy/compose describes, run for real without containers: every service as
two processes, each on its own PostgreSQL database, Redis with a user per party (ACLs on,
events signed), migrations run first as their own step — and the demo's scenario played
through it with the same exact results as in embedded mode."""

from pathlib import Path

import pytest

from safereturn import demo
from safereturn.demo_notify import Peers
from safereturn.sinks import HttpSink
from shared.names import Service
from tests import local_platform
from tests.e2e.test_demo import assert_the_scenario


@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_the_scenario_on_postgresql_and_acl_redis_with_two_replicas_of_every_service(
    tmp_path: Path, postgres_server: str | LookupError
) -> None:
    if isinstance(postgres_server, LookupError):
        pytest.skip(str(postgres_server))
    lines: list[str] = []
    with HttpSink() as sms, local_platform.running(
        "postgresql", tmp_path, postgres_server, replicas=dict.fromkeys(Service, 2),
        extra={"SAFERETURN_NOTIFY_SMS_GATEWAY_URL": sms.url("/sms")},
    ) as platform:  # fmt: skip
        assert len(platform.processes) == 2 * len(Service)
        urls = {str(service): platform.urls(service)[0] for service in Service}
        peers = Peers(platform.smtp, platform.webhooks, sms)
        with local_platform.environment(platform.env):
            demo.play(urls, platform.redis_urls, lines.append, peers, tmp_path / "data")
        assert all(process.alive() for process in platform.processes)
    assert_the_scenario("\n".join(lines), tmp_path / "data")
