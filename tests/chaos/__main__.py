"""``python -m tests.chaos``: a chaos run per database, full size unless told otherwise.

Sizes come from the command line, else ``CHAOS_CASES``, ``CHAOS_KILLS``, ``CHAOS_REDIS_KILLS``,
``CHAOS_DB`` (``sqlite,postgresql``), ``CHAOS_WORKERS``, ``CHAOS_SEED``, ``CHAOS_QUIESCE_S``;
``--redis-cluster`` (``CHAOS_REDIS_CLUSTER=1``) runs on a Redis Cluster of three primaries and
three replicas, a Redis kill being a primary's; ``--case-partitions N``
(``CHAOS_CASE_PARTITIONS``) splits the case stream.
"""

import argparse
import os
import sys

from tests.chaos.run import Size, run


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--cases", type=int, default=int(env("CHAOS_CASES", "10000")))
    parser.add_argument("--kills", type=int, default=int(env("CHAOS_KILLS", "20")))
    parser.add_argument("--redis-kills", type=int, default=int(env("CHAOS_REDIS_KILLS", "2")))
    parser.add_argument("--db", default=env("CHAOS_DB", "sqlite,postgresql"))
    parser.add_argument("--workers", type=int, default=int(env("CHAOS_WORKERS", "16")))
    parser.add_argument("--seed", type=int, default=int(env("CHAOS_SEED", "12")))
    parser.add_argument("--quiesce-s", type=float, default=float(env("CHAOS_QUIESCE_S", "900")))
    parser.add_argument("--redis-cluster", action="store_true",
                        default=env("CHAOS_REDIS_CLUSTER", "") not in ("", "0"))  # fmt: skip
    parser.add_argument("--case-partitions", type=int,
                        default=int(env("CHAOS_CASE_PARTITIONS", "1")))  # fmt: skip
    args = parser.parse_args()
    size = Size(args.cases, args.kills, args.redis_kills, args.workers, args.seed, args.quiesce_s)
    results = [run(db.strip(), size, redis_cluster=args.redis_cluster,
                   case_partitions=args.case_partitions)
               for db in args.db.split(",") if db.strip()]  # fmt: skip
    for result in results:
        sys.stdout.write(f"{result.database}: {'PASS' if result.ok else 'FAIL'} {result.figures}\n")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
