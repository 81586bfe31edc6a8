"""One chaos run: start the platform, set it up, drive the load while the killer works, wait
until it is quiet, check every invariant and print the figures."""

import contextlib
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from shared.names import Service
from tests.chaos import checks
from tests.chaos.api import Ambiguous, LoadError
from tests.chaos.checks import Check
from tests.chaos.killer import Killer
from tests.chaos.load import Load
from tests.chaos.quiesce import quiesce
from tests.chaos.truth import Truth, plan_activities, plan_cases
from tests.local_platform import environment, running
from tests.servers import pg_binary


@dataclass(frozen=True)
class Size:
    cases: int = 300
    kills: int = 5
    redis_kills: int = 1
    workers: int = 16
    seed: int = 12
    quiesce_s: float = 120.0


@dataclass
class Result:
    database: str
    size: Size
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def lines(self) -> list[str]:
        out = [f"chaos on {self.database}:"]
        out += [f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        out.append("  " + ", ".join(f"{k} {v}" for k, v in self.figures.items()))
        out.append(f"  killed: {', '.join(self.killed)}")
        return out


def _drive(load: Load, truth: Truth, size: Size, say: Callable[[str], None]) -> list[str]:
    """The load, with the killer at work; the errors the load met (none expected)."""
    activities = plan_activities(max(size.cases // 10, 3), size.seed)
    total = len(truth.cases) + len(activities)
    done = [0]
    lock = threading.Lock()
    errors: list[str] = []

    def finished(what: Callable[[], None]) -> None:
        try:
            what()
        except (LoadError, Ambiguous) as error:
            with lock:
                errors.append(str(error))
        finally:
            with lock:
                done[0] += 1

    killer = Killer(load.platform, size.kills, size.redis_kills, lambda: done[0] / total,
                    size.seed)  # fmt: skip
    killer.start()
    pool = ThreadPoolExecutor(size.workers)
    try:
        jobs = [pool.submit(finished, partial(load.story, case)) for case in truth.cases]
        jobs += [pool.submit(finished, partial(load.activity, i, a))
                 for i, a in enumerate(activities)]  # fmt: skip
        last = time.monotonic()
        for job in jobs:
            job.result()
            if time.monotonic() - last > 10:
                say(f"  … {done[0]}/{total} stories, kills so far {len(load.platform.kills)}")
                last = time.monotonic()
        killer.join(timeout=600)
    except BaseException:  # interrupted or timed out: every waiting call ends now
        load.stop.set()
        raise
    finally:  # every thread ends before the platform stops
        killer.stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
        killer.join(timeout=120)
    return errors + [f"killer: {e}" for e in killer.errors]


def run(
    database: str,
    size: Size,
    say: Callable[[str], None] = print,
    postgres: str | None = None,
    redis_cluster: bool = False,
    case_partitions: int = 1,
) -> Result:
    """A run on ``sqlite`` or ``postgresql`` (the server given, else a throwaway one), on one
    Redis or a Redis Cluster (whose Redis kills are a primary's, with its failover), the case
    stream split ``case_partitions`` ways."""
    started = time.monotonic()
    result = Result(database, size)
    run_id = secrets.token_hex(3)
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"chaos-{database}-"))
        platform = stack.enter_context(
            running(
                database,
                Path(folder),
                postgres,
                redis_cluster=redis_cluster,
                extra={"SAFERETURN_CASE_STREAM_PARTITIONS": str(case_partitions)},
            )
        )
        stack.enter_context(environment(platform.env))
        redis = "Redis Cluster primary kills" if redis_cluster else "Redis kills"
        say(f"chaos on {database}: {len(platform.processes)} processes up in "
            f"{time.monotonic() - started:.0f} s; {size.cases} cases, {size.kills} kills, "
            f"{size.redis_kills} {redis}")  # fmt: skip
        truth = Truth(cases=plan_cases(size.cases, size.seed, run_id))
        load = Load(platform, truth, run_id, size.seed)
        stack.callback(load.close)
        load.set_up()
        load_started = time.monotonic()
        errors = _drive(load, truth, size, say)
        load_s = time.monotonic() - load_started
        say(f"  load done in {load_s:.0f} s; waiting until the platform is quiet")
        state, waited = quiesce(platform, load.admin, size.quiesce_s)
        found = [Check("the load was accepted (no call gave up)", not errors,
                       f"{len(errors)} errors: {errors[:3]}")]  # fmt: skip
        form, events = checks.statistics_form(load, truth)
        found += form
        found += checks.ledger(load, truth)
        found.append(checks.activities(load, truth))
        found.append(checks.intake_cases(load, truth))  # may admit a lost report: after the form
        found.append(checks.registers(load, truth))
        found.append(checks.case_events(load, truth))
        found.append(checks.mail(load, truth))
        found.append(checks.webhooks(load, truth))
        found.append(checks.streams(state, waited))
        found.append(checks.audit())
        result.checks = found
        result.killed = platform.kills + ["redis"] * platform.redis_restarts
        result.figures = {
            "cases": len(truth.cases), "events": events, "kills": len(platform.kills),
            "redis restarts": platform.redis_restarts,
            "lost": sum(c.lost for c in found), "doubled": sum(c.doubled for c in found),
            "repeats sent": truth.repeats, "ambiguous calls": truth.ambiguous,
            "load s": round(load_s), "quiesce s": round(waited),
            "run time s": round(time.monotonic() - started),
        }  # fmt: skip
        if not result.ok:
            keep = Path(tempfile.mkdtemp(prefix=f"chaos-{database}-logs-"))
            for log in (Path(folder) / "logs").glob("*.log"):
                (keep / log.name).write_bytes(log.read_bytes()[-2_000_000:])
            _keep_databases(platform.env, Path(folder), keep)
            shutil.copytree(Path(folder) / "redis", keep / "redis", dirs_exist_ok=True)
            result.figures["logs"] = str(keep)
    for line in result.lines():
        say(line)
    return result


def _keep_databases(env: dict[str, str], folder: Path, keep: Path) -> None:
    """Each service's database beside the logs of a failed run (and Redis's folder, its AOF
    the history of every stream and group): SQLite files as they are, PostgreSQL databases
    as ``pg_dump`` writes them."""
    for service in Service:
        url = env.get(f"SAFERETURN_{service.upper()}_DATABASE_URL")
        if url is None:
            for file in (folder / "data").glob(f"{service}.db*"):
                shutil.copy(file, keep / file.name)
            continue
        plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        with (keep / f"{service}.sql").open("wb") as dump:
            subprocess.run([pg_binary("pg_dump") or "pg_dump", "--no-owner", plain], stdout=dump,
                           check=False)  # fmt: skip
