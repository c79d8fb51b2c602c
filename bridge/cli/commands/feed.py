"""`vtex-bridge feed show|set|delete|poll`: the Feed v3 configuration and the backup poller.

`feed set` without filter options configures the same filter as the hook (the settings' statuses or
expression), so the feed holds exactly the events the hook should have delivered. `feed poll` runs the
long-lived poller (`bridge.feed_poller`) until SIGINT/SIGTERM; it polls every configured account's feed.

`feed set` never narrows a configured filter silently, by the same rule as `hook set|ensure`
(`bridge.cli.commands.filter_guard`): when the new filter would stop putting some changes in the feed
that the configured one puts there, it prints the difference and refuses (exit 10) unless
`--replace-filter`. Its filter is built once per run, so a warning about its statuses is printed once.

`show`, `set` and `delete` act on one account of the registry (`--account NAME`, default the first
configured) or on each in turn (`--all-accounts`), naming the account on every line they print.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Final

from bridge.cli.commands.account_options import (
    add_account_arguments,
    manageable,
    reporting_refusals,
    run_per_account,
    selected_accounts,
)
from bridge.cli.commands.filter_guard import (
    EXIT_FILTER_NARROWS,
    add_replace_filter_argument,
    refused_narrowing,
)
from bridge.cli.commands.filter_options import add_filter_arguments, default_hook_filter, filter_from_args
from bridge.settings import Settings
from bridge.vtex.config_models import (
    EXIT_NOT_FOUND,
    FeedConfig,
    FeedQueue,
    Filter,
)

if TYPE_CHECKING:
    from bridge.accounts import Account
    from bridge.vtex.config_api import ConfigApiClient

#: The oldest message's age; VTEX's guide misspells the key (REFERENCE.md section 4).
AGE_KEYS: Final = ("approximateAgeOfOldestMessageInSeconds", "aproximateAgeOfOldestMessageInSeconds")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "feed", help="show, set or delete the Feed v3 configuration; run the poller"
    )
    actions = parser.add_subparsers(dest="feed_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the feed configuration and queue depth")
    add_account_arguments(show)
    show.set_defaults(func=run)
    delete = actions.add_parser("delete", help="delete the feed configuration")
    add_account_arguments(delete)
    delete.set_defaults(func=run)

    set_ = actions.add_parser("set", help="create or replace the feed configuration")
    add_filter_arguments(set_)
    add_account_arguments(set_)
    add_replace_filter_argument(set_)
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

    poll = actions.add_parser(
        "poll", help="run the Feed v3 -> Kafka poller of every configured account (backup path of the hook)"
    )
    poll.add_argument("--maxlot", type=int, help="items per read, 1..10 (default: feed_poll_maxlot)")
    poll.add_argument("--port", type=int, help="port of /metrics and /healthz (default: feed_poll_http_port)")
    poll.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    action = args.feed_action

    def work() -> int:
        if action == "poll":
            return _poll(args, settings)
        return asyncio.run(_run_each(action, args, settings, selected_accounts(args, settings)))

    return reporting_refusals(f"feed {action}", work)


async def _run_each(
    action: str, args: argparse.Namespace, settings: Settings, accounts: tuple[Account, ...]
) -> int:
    """Run `action` for each account in turn; a VTEX refusal for one is reported and the rest still run.

    With `--all-accounts`, the accounts configured without an appToken (hooks received only) are
    passed over: their feed cannot be read or changed from here."""
    if getattr(args, "all_accounts", False):
        accounts = manageable(accounts, need_secret=False, what="feed")
    if action == "set":
        # One filter for the run: it depends on the options and settings only, so its warnings
        # (unknown statuses) and refusals (bad JSONata, mixed types) are printed once.
        chosen = filter_from_args(args, for_hook=False, fallback=default_hook_filter(settings))
        return await run_per_account(
            "feed set",
            accounts,
            settings,
            lambda account, client: _set(args, settings, account, client, chosen),
        )
    return await run_per_account(
        f"feed {action}",
        accounts,
        settings,
        lambda account, client: _ACTIONS[action](args, settings, account, client),
    )


async def _show(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    import orjson

    current = await client.get_feed_config()
    if current is None:
        print(
            f"vtex-bridge feed show: account {account.name}: no feed is configured for its appKey",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    print(orjson.dumps({"account": account.name, **current}, option=orjson.OPT_INDENT_2).decode())
    age = next((current[k] for k in AGE_KEYS if k in current), None)
    print(
        f"account {account.name}: queue: {current.get('quantity', '?')} message(s), "
        f"oldest {age if age is not None else '?'} s",
        file=sys.stderr,
    )
    return 0


async def _set(
    args: argparse.Namespace,
    settings: Settings,
    account: Account,
    client: ConfigApiClient,
    chosen: Filter,
) -> int:
    queue = FeedQueue(
        visibility_timeout_s=(
            settings.feed_visibility_timeout_s if args.visibility_timeout is None else args.visibility_timeout
        ),
        retention_s=settings.feed_retention_s if args.retention is None else args.retention,
    )
    current = await client.get_feed_config()
    if refused_narrowing("feed set", "feed", account, current, chosen, replace=args.replace_filter):
        return EXIT_FILTER_NARROWS
    await client.set_feed_config(FeedConfig(filter=chosen, queue=queue))
    print(
        f"account {account.name}: feed configured: {chosen.type}, visibility {queue.visibility_timeout_s} s, "
        f"retention {queue.retention_s} s",
        file=sys.stderr,
    )
    return 0


async def _delete(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    await client.delete_feed_config()
    print(f"account {account.name}: feed deleted", file=sys.stderr)
    return 0


#: The actions that only read or delete (`set` is given the run's filter).
_ACTIONS: Final = {"show": _show, "delete": _delete}


def _poll(args: argparse.Namespace, settings: Settings) -> int:
    """Run the poller until SIGINT/SIGTERM; a crash propagates (exit != 0) for the supervisor to restart."""
    import asyncio
    import signal

    from bridge.feed_poller.service import polled_accounts, run_poller

    overrides: dict[str, object] = {}
    if args.maxlot is not None:
        overrides["feed_poll_maxlot"] = args.maxlot
    if args.port is not None:
        overrides["feed_poll_http_port"] = args.port
    effective = settings.model_copy(update=overrides) if overrides else settings
    if not 1 <= effective.feed_poll_maxlot <= 10:
        print("vtex-bridge feed poll: --maxlot must be within 1..10 (VTEX's limit)", file=sys.stderr)
        return 2
    polled_accounts(effective)  # an unusable account registry is refused here, before anything starts

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_poller(effective, stop)

    from bridge import process_runtime

    process_runtime.run(effective, main())
    return 0
