"""``python -m bench`` (``make bench``): the platform measured on this machine, each figure
beside its baseline measured in the same run, as a ratio. Prints a Markdown table.

Sizes: ``--size smoke`` (seconds; ``make test`` runs it) or ``full`` (the figures in
docs/performance.md). Also from ``BENCH_SIZE``, ``BENCH_DB`` (``sqlite,postgresql``) and
``BENCH_PARTS`` (every part unless told); the steady run's rate and length from ``--rate`` and
``--seconds`` (``BENCH_RATE``, ``BENCH_SECONDS``); the history's sizes from ``--history``
(``BENCH_HISTORY``)."""

import argparse
import contextlib
import dataclasses
import os
import sys

from bench.figures import table
from bench.run import PARTS, Run, Size
from tests import servers


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - progress, as it happens


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=("smoke", "full"), default=env("BENCH_SIZE", "full"))
    parser.add_argument("--db", default=env("BENCH_DB", "sqlite,postgresql"))
    parser.add_argument("--parts", default=env("BENCH_PARTS", ",".join(PARTS)))
    parser.add_argument(
        "--rate",
        type=float,
        default=env("BENCH_RATE"),
        help="the steady run's reports a second (the size's unless told)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=env("BENCH_SECONDS"),
        help="the steady run's length in seconds (the size's unless told)",
    )
    parser.add_argument(
        "--history",
        default=env("BENCH_HISTORY"),
        help="cases in stats' database when the form is timed, e.g. 10000,100000 (the size's "
        "unless told)",
    )
    args = parser.parse_args()
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"no such part: {', '.join(sorted(unknown))} (parts: {', '.join(PARTS)})")
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    size = Size.named(args.size)
    history = tuple(int(n) for n in args.history.split(",")) if args.history else size.history
    size = dataclasses.replace(size, rate=args.rate or size.rate,
                               seconds=args.seconds or size.seconds, history=history)  # fmt: skip
    figures = []
    with contextlib.ExitStack() as stack:
        postgres = (stack.enter_context(servers.postgres_url())
                    if "postgresql" in kinds else None)  # fmt: skip
        for kind in kinds:
            figures += Run(kind, size, say, postgres).figures(parts)
    sys.stdout.write(f"\n{table(figures)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
