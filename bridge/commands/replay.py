"""`vtex-bridge replay`: move dead-lettered events back to the input topic.

Reads the dead-letter topic with the consumer group `<worker_app_id>-replay` (so a record is replayed
once), from where the group left off up to the end as of the start, puts each record's original input
value back on the input topic with its original key, and commits the group's offsets only after the
input topic acknowledged the batch. Replayed events get a new offset, so the worker processes them
afresh (its de-dup state never marks a dead-lettered event as emitted).
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

    from bridge.topics.resolver import current_produce_topic
    from processors.replay import replay

    async def main() -> dict[str, object]:
        topic = await current_produce_topic(settings)  # the current input generation's topic
        return await replay(
            settings, reason=args.reason, limit=args.limit, dry_run=args.dry_run, input_topic=topic
        )

    result = asyncio.run(main())
    print(orjson.dumps(result).decode())
    return 0
