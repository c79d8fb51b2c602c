"""`vtex-bridge replay`: move dead-lettered events back to the input topic.

Reads the dead-letter topic with the consumer group `<worker_app_id>-replay` (so a record is replayed
once), from where the group left off up to the end as of the start, puts each record's original input
value back on the input topic with its original key, and commits the group's offsets only after the
input topic acknowledged the batch. Replayed events get a new offset, so the worker processes them
afresh (its de-dup state never marks a dead-lettered event as emitted). Prints the counts as JSON on
stdout and one line for the operator on stderr; `--dry-run` moves and commits nothing and reports the
matches as `would_replay` (with `"replayed": 0`), naming the active generation's input topic.
"""

from __future__ import annotations

import argparse

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="move dead-lettered events back to the input topic")
    parser.add_argument("--reason", default=None, help="only replay dead letters with this reason")
    parser.add_argument("--limit", type=int, default=None, help="replay at most this many records")
    parser.add_argument("--dry-run", action="store_true", help="count what would be replayed, move nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    import orjson

    from bridge.log import say
    from bridge.topics.resolver import ActiveInput, active_input
    from processors.replay import replay

    async def main() -> tuple[ActiveInput, dict[str, object]]:
        active = await active_input(settings)  # the active input generation's topic
        counts = await replay(
            settings, reason=args.reason, limit=args.limit, dry_run=args.dry_run, input_topic=active.topic
        )
        return active, counts

    active, result = asyncio.run(main())
    print(orjson.dumps(result).decode(), flush=True)
    say(summary(result, active.describe()))
    return 0


def summary(result: dict[str, object], target: str) -> str:
    """Return the human line of a replay's answer (stderr; stdout keeps the JSON)."""
    tail = f"{result.get('skipped', 0)} skipped by --reason, {result.get('scanned', 0)} scanned"
    if result.get("dry_run"):
        return (
            f"replay (dry run): would replay {result.get('would_replay', 0)} dead letter(s) to {target}; "
            f"{tail}; nothing was moved"
        )
    return f"replay: replayed {result.get('replayed', 0)} dead letter(s) to {target}; {tail}"
