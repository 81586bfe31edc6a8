"""SIGKILLs random service processes at random points of the load and restarts them; SIGKILLs
Redis and restarts it from its AOF. Every kill planned is made, even after the load ends."""

import random
import threading
import time
from collections.abc import Callable

from tests.local_platform import Platform

RESTART_TIMEOUT_S = 600.0


class Killer(threading.Thread):
    def __init__(
        self, platform: Platform, kills: int, redis_kills: int, progress: Callable[[], float],
        seed: int,
    ) -> None:  # fmt: skip
        super().__init__(name="chaos-killer", daemon=True)
        self.platform, self.progress = platform, progress
        self.rng = random.Random(seed + 2)
        plan = [(self.rng.uniform(0.05, 0.9), "service") for _ in range(kills)]
        plan += [(self.rng.uniform(0.15, 0.85), "redis") for _ in range(redis_kills)]
        self.plan = sorted(plan)
        self.stopping = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            for threshold, what in self.plan:
                while self.progress() < threshold and not self.stopping.is_set():
                    time.sleep(0.05)
                if self.stopping.is_set():
                    return
                if what == "redis":
                    self.platform.kill_redis()
                else:
                    self._kill_service()
        except Exception as error:  # reported by the run, never lost in a thread
            self.errors.append(f"{type(error).__name__}: {error}")

    def _kill_service(self) -> None:
        process = self.rng.choice(self.platform.processes)
        time.sleep(self.rng.uniform(0.0, 0.5))  # anywhere in what it was doing
        self.platform.kill(process)
        time.sleep(self.rng.uniform(0.2, 2.0))  # down for a while: callers must cope
        self.platform.start(process)
        # A start slowed by a loaded machine is no fault; one that never comes up still is.
        self.platform.wait_ready(process, timeout=RESTART_TIMEOUT_S)
