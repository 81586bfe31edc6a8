"""``safereturn dlq list | show ID | replay ID... | replay --all``: the dead letters an
operator inspects and puts back on their stream once the cause is fixed."""

import argparse
import asyncio
import json
from collections.abc import Callable

from redis.asyncio import Redis

from shared import deadletter, redis_connect
from shared.settings import settings_for

Say = Callable[[str], None]


def add_commands(dlq: argparse.ArgumentParser) -> None:
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list", help="list dead letters")
    listing.add_argument("--stream", help="one dead-letter stream (default: all)")
    show = dlq_commands.add_parser("show", help="show one dead letter")
    show.add_argument("id")
    replay = dlq_commands.add_parser("replay", help="put dead letters back on their stream")
    replay.add_argument("ids", nargs="*", metavar="ID")
    replay.add_argument("--all", action="store_true", help="every dead letter")
    replay.add_argument("--stream", help="with --all: one dead-letter stream only")


def command(args: argparse.Namespace, redis_url: str, say: Say) -> int:
    """Run ``safereturn dlq …`` (``redis_url``: as the operator)."""
    if args.dlq_command == "replay" and not (args.ids or args.all):
        say("replay needs dead-letter ids or --all")
        return 2
    return asyncio.run(_run(args, redis_url, say))


async def _run(args: argparse.Namespace, redis_url: str, say: Say) -> int:
    redis = redis_connect.connect(redis_url, cluster=settings_for("platform").redis_cluster)
    run = {"list": _list, "show": _show, "replay": _replay}[args.dlq_command]
    try:
        return await run(redis, args, say)
    finally:
        await redis.aclose()


async def _list(redis: Redis, args: argparse.Namespace, say: Say) -> int:
    letters = await deadletter.list_dead_letters(redis, args.stream)
    for letter in letters:
        failure = letter.failure
        say(
            f"{letter.id}  {failure.get('stream', '?')}  {letter.fields.get('type', '?')}"
            f"  group={failure.get('group')}  deliveries={failure.get('deliveries')}"
            f"  {failure.get('reason', '')[:120]}"
        )
    say(f"{len(letters)} dead letter(s)")
    return 0


async def _show(redis: Redis, args: argparse.Namespace, say: Say) -> int:
    letter = await deadletter.find_dead_letter(redis, args.id)
    if letter is None:
        say(f"no dead letter {args.id}")
        return 1
    shown = {
        "id": letter.id,
        "dead_letter_stream": letter.dead_letter_stream,
        "failure": letter.failure,
        "entry": letter.original,
    }
    say(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


async def _replay(redis: Redis, args: argparse.Namespace, say: Say) -> int:
    if args.all:
        letters = await deadletter.list_dead_letters(redis, args.stream)
    else:
        found = {i: await deadletter.find_dead_letter(redis, i) for i in args.ids}
        letters = [letter for letter in found.values() if letter is not None]
        if len(letters) < len(found):
            say(f"no dead letter {', '.join(i for i, letter in found.items() if letter is None)}")
            return 1
    for letter in letters:
        new_id = await deadletter.replay(redis, letter)
        say(f"replayed {letter.id} → {letter.failure['stream']} {new_id}")
    say(f"{len(letters)} replayed")
    return 0
