"""When an entry Redis acknowledged is on disk, so the outbox may mark its row published.

Redis answers XADD before the entry is on disk unless it fsyncs every write. The relay
therefore confirms durability for each batch, in one of two ways:

- **WAITAOF** (Redis ≥ 7.2): the batch's pipeline ends with ``WAITAOF 1 <replicas> <timeout>``;
  the rows are marked published only if the local AOF (and as many replicas as required)
  has fsynced every write of that connection.
- **appendfsync always** (older Redis): before publishing, ``CONFIG GET`` must show
  ``appendonly yes`` and ``appendfsync always``; Redis then fsyncs the AOF before it replies.
  Where replicas must hold the batch too (``replicas``), the pipeline ends with ``WAIT``.
  Where an ACL forbids ``CONFIG GET``, the operator states the setting with
  ``redis_fsync_declared`` (see docs/reliability.md); otherwise nothing is published.

A batch whose durability is not confirmed stays unpublished: the relay backs off and tries
again, and ``/ready`` names the check ``durability``.
"""

import enum
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoPermissionError, ResponseError

log = logging.getLogger(__name__)


class NotDurable(Exception):
    """Redis could lose an entry it acknowledged; the reason names no data."""


class Mode(enum.StrEnum):
    WAITAOF = "waitaof"
    FSYNC_ALWAYS = "fsync-always"


class Durability:
    """Confirms, batch by batch, that what the relay published survives a Redis crash."""

    def __init__(
        self,
        redis: "Redis",
        *,
        fsync_declared: bool = False,
        replicas: int = 0,
        timeout_ms: int = 1000,
    ) -> None:
        self.redis = redis
        self.fsync_declared = fsync_declared
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.mode: Mode | None = None
        self.problem: str | None = None
        """Why the last batch was not confirmed (None once one was)."""

    async def detect(self) -> Mode:
        """WAITAOF where this Redis has it (and this user may run it), else appendfsync."""
        try:
            await self.redis.execute_command("WAITAOF", 0, 0, 0)  # type: ignore[no-untyped-call]
        except ResponseError:  # unknown command before 7.2, or NOPERM for this user
            return Mode.FSYNC_ALWAYS
        return Mode.WAITAOF

    async def before_publishing(self) -> None:
        """Raise NotDurable when an acknowledged XADD could still be lost."""
        if self.mode is None:
            self.mode = await self.detect()
            log.info("outbox durability confirmed by %s", self.mode)
        if self.mode is Mode.FSYNC_ALWAYS:
            await self._check_fsync_always()

    def add_wait(self, pipe: Pipeline) -> bool:
        """Append the command that confirms the pipeline's writes — WAITAOF, or before Redis
        7.2 WAIT when replicas must hold them too; whether one was added."""
        if self.mode is Mode.WAITAOF:
            pipe.execute_command("WAITAOF", 1, self.replicas, self.timeout_ms)
        elif self.replicas:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
        else:
            return False
        return True

    def confirm(self, waited: Any) -> None:
        """Raise NotDurable unless the answer of ``add_wait``'s command covers the local AOF
        and the replicas."""
        command = "WAITAOF" if self.mode is Mode.WAITAOF else "WAIT"
        if isinstance(waited, Exception):
            self.mode = None  # e.g. a failover to an older Redis: detect again next batch
            self._fail(f"{command} failed: {type(waited).__name__}: {waited}")
        if command == "WAIT":
            if int(waited) < self.replicas:
                self._fail(f"WAIT confirmed {waited} of {self.replicas} replicas")
        else:
            local, replicas = (int(count) for count in waited)
            if local < 1 or replicas < self.replicas:
                self._fail(f"WAITAOF confirmed {local} local and {replicas} replica fsyncs")
        self.problem = None

    async def _check_fsync_always(self) -> None:
        try:
            config = await self.redis.config_get("appendonly", "appendfsync")
        except NoPermissionError:
            if self.fsync_declared:
                self.problem = None
                return
            self._fail(
                "CONFIG GET is not permitted and redis_fsync_declared is off: cannot confirm "
                "appendfsync always"
            )
        appendonly, appendfsync = config.get("appendonly"), config.get("appendfsync")
        if appendonly != "yes" or appendfsync != "always":
            self._fail(
                f"Redis runs appendonly {appendonly} and appendfsync {appendfsync}; "
                "an acknowledged entry needs appendonly yes and appendfsync always (or WAITAOF)"
            )
        self.problem = None

    def _fail(self, reason: str) -> None:
        self.problem = reason
        raise NotDurable(reason)
