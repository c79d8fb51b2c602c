"""`vtex-bridge feed show|set|delete|poll`: the Feed v3 configuration and the backup poller.

`feed set` without filter options configures the same filter as the hook (the settings' statuses or
expression), so the feed holds exactly the events the hook should have delivered. `feed poll` runs the
long-lived poller (`bridge.feed_poller`) until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final

from bridge.commands.hook import add_filter_arguments, default_hook_filter, filter_from_args
from bridge.settings import Settings
from bridge.vtex.config_models import (
    EXIT_BAD_REQUEST,
    EXIT_NOT_FOUND,
    ConfigApiError,
    FeedConfig,
    FeedQueue,
)

#: The oldest message's age; VTEX's guide misspells the key (REFERENCE.md section 4).
AGE_KEYS: Final = ("approximateAgeOfOldestMessageInSeconds", "aproximateAgeOfOldestMessageInSeconds")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "feed", help="show, set or delete the Feed v3 configuration; run the poller"
    )
    actions = parser.add_subparsers(dest="feed_action", metavar="ACTION", required=True)
    actions.add_parser("show", help="print the feed configuration and queue depth").set_defaults(func=run)
    actions.add_parser("delete", help="delete the feed configuration").set_defaults(func=run)

    set_ = actions.add_parser("set", help="create or replace the feed configuration")
    add_filter_arguments(set_)
    set_.add_argument(
        "--visibility-timeout",
        type=int,
        metavar="SECONDS",
        help="how long a read item stays invisible before it comes back (default: feed_visibility_timeout_s)",
    )
    set_.add_argument(
        "--retention",
        type=int,
        metavar="SECONDS",
        help="how long an uncommitted item is kept, at most 1209600 (default: feed_retention_s)",
    )
    set_.set_defaults(func=run)

    poll = actions.add_parser("poll", help="run the Feed v3 -> Kafka poller (backup path of the hook)")
    poll.add_argument("--maxlot", type=int, help="items per read, 1..10 (default: feed_poll_maxlot)")
    poll.add_argument("--port", type=int, help="port of /metrics and /healthz (default: feed_poll_http_port)")
    poll.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.expressions import ExpressionError

    action = args.feed_action
    try:
        if action == "poll":
            return _poll(args, settings)
        return asyncio.run(_ACTIONS[action](args, settings))
    except ConfigApiError as exc:
        print(f"vtex-bridge feed {action}: {exc.user_message()}", file=sys.stderr)
        return exc.exit_code
    except ExpressionError as exc:
        print(f"vtex-bridge feed {action}: invalid JSONata expression: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from bridge.vtex.config_api import ConfigApiClient

    async with ConfigApiClient.from_settings(settings) as client:
        current = await client.get_feed_config()
    if current is None:
        print("vtex-bridge feed show: no feed is configured for this appKey", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(orjson.dumps(current, option=orjson.OPT_INDENT_2).decode())
    age = next((current[k] for k in AGE_KEYS if k in current), None)
    print(
        f"queue: {current.get('quantity', '?')} message(s), oldest {age if age is not None else '?'} s",
        file=sys.stderr,
    )
    return 0


async def _set(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.vtex.config_api import ConfigApiClient

    queue = FeedQueue(
        visibility_timeout_s=(
            settings.feed_visibility_timeout_s if args.visibility_timeout is None else args.visibility_timeout
        ),
        retention_s=settings.feed_retention_s if args.retention is None else args.retention,
    )
    chosen = filter_from_args(args, for_hook=False, fallback=default_hook_filter(settings))
    config = FeedConfig(filter=chosen, queue=queue)
    async with ConfigApiClient.from_settings(settings) as client:
        await client.set_feed_config(config)
    print(
        f"feed configured: {chosen.type}, visibility {queue.visibility_timeout_s} s, "
        f"retention {queue.retention_s} s",
        file=sys.stderr,
    )
    return 0


async def _delete(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.vtex.config_api import ConfigApiClient

    async with ConfigApiClient.from_settings(settings) as client:
        await client.delete_feed_config()
    print("feed deleted", file=sys.stderr)
    return 0


_ACTIONS: Final = {"show": _show, "set": _set, "delete": _delete}


def _poll(args: argparse.Namespace, settings: Settings) -> int:
    """Run the poller until SIGINT/SIGTERM; a crash propagates (exit != 0) for the supervisor to restart."""
    import asyncio
    import signal

    from bridge.feed_poller.service import run_poller

    overrides: dict[str, object] = {}
    if args.maxlot is not None:
        overrides["feed_poll_maxlot"] = args.maxlot
    if args.port is not None:
        overrides["feed_poll_http_port"] = args.port
    effective = settings.model_copy(update=overrides) if overrides else settings
    if not 1 <= effective.feed_poll_maxlot <= 10:
        print("vtex-bridge feed poll: --maxlot must be within 1..10 (VTEX's limit)", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_poller(effective, stop)

    from bridge import process_runtime

    process_runtime.run(effective, main())
    return 0
