"""``safereturn up --observability``: Prometheus beside the embedded platform, scraping every
service with the alert rules loaded, and where an operator looks."""

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from safereturn.embedded import EmbeddedPlatform
from safereturn.observability import DEPLOY
from safereturn.observability.dashboards import FOLDER
from safereturn.observability.prometheus import RULES, Prometheus, running


@contextlib.contextmanager
def watching(platform: EmbeddedPlatform, port: int, say: Callable[[str], None]) -> Iterator[
    Prometheus
]:  # fmt: skip
    """Prometheus on ``port`` (its data in the platform's data folder) until the block ends."""
    targets = {service.name: service.url for service in platform.services}
    with running(targets, platform.data_dir / "prometheus", port) as prometheus:
        say(f"  prometheus    {prometheus.url}  scraping every service every 5 s")
        say(f"  alerts        {prometheus.url}/alerts  ({len(prometheus.rules())} rules from "
            f"{_shown(RULES)})")  # fmt: skip
        say(f"  dashboards    {_shown(FOLDER)} (Grafana: provisioning in "
            f"{_shown(DEPLOY / 'grafana' / 'provisioning')})")  # fmt: skip
        yield prometheus


def _shown(path: Path) -> str:
    """The path from the current folder if it is below it (the repository), else in full."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
