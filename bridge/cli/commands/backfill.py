"""`vtex-bridge backfill --order-ids FILE | --since A --until B`: re-inject missed order events.

Each order is read from OMS and produced to the input topic as a `source: backfill` event for its
current status (see `bridge.backfill`); running it twice produces the same event ids, which the
processor de-dups. `--since/--until` finds the orders *created* in the range with VTEX's List orders
API (the simulator does not serve it); an order created earlier that changed during the outage needs
`--order-ids`.

Several accounts (`bridge.accounts`): `--account NAME` reads that account's OMS with that account's
credentials and stamps `account` on the events (default: the registry's default account);
`--all-accounts` (with `--since/--until`) lists and backfills every configured account in turn, going
on with the next when one fails (the exit code is the first failure's). An order id belongs to one
account, so `--order-ids` takes one account. Each event line on stdout ends with its account; a dry
run names the input topic of the active generation that a real run would write.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.cli.commands.account_options import EXIT_ACCOUNTS, add_account_arguments, selected_accounts
from bridge.log import say
from bridge.settings import Settings

if TYPE_CHECKING:
    from bridge.accounts import Account
    from bridge.kafka_producer import ResilientProducer
    from bridge.topics.resolver import InputTopicSource


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backfill", help="inject events for orders whose notifications were missed"
    )
    parser.add_argument(
        "--order-ids",
        type=Path,
        metavar="FILE",
        help="file with one order id per line (# comments allowed; - = stdin)",
    )
    parser.add_argument(
        "--since", metavar="ISO8601", help="orders created from this date/time (List orders API)"
    )
    parser.add_argument("--until", metavar="ISO8601", help="orders created until this date/time (inclusive)")
    parser.add_argument("--dry-run", action="store_true", help="read the orders and print the events only")
    add_account_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.accounts import AccountsConfigError

    if args.order_ids is not None and (args.since or args.until):
        print("vtex-bridge backfill: give either --order-ids or --since/--until", file=sys.stderr)
        return 2
    if args.order_ids is not None and args.all_accounts:
        print(
            "vtex-bridge backfill: an order id belongs to one account: give --order-ids with --account NAME "
            "(or --since/--until with --all-accounts)",
            file=sys.stderr,
        )
        return 2
    if args.order_ids is None and not (args.since and args.until):
        print("vtex-bridge backfill: give --order-ids FILE, or both --since and --until", file=sys.stderr)
        return 2
    try:
        accounts = selected_accounts(args, settings)
    except AccountsConfigError as exc:
        print(f"vtex-bridge backfill: {exc}", file=sys.stderr)
        return EXIT_ACCOUNTS
    if args.order_ids is None:
        return asyncio.run(_backfill_range(args, settings, accounts))
    try:
        lines = (
            sys.stdin.read().splitlines()
            if str(args.order_ids) == "-"
            else args.order_ids.read_text(encoding="utf-8").splitlines()
        )
    except OSError as exc:
        print(f"vtex-bridge backfill: cannot read {args.order_ids}: {exc.strerror}", file=sys.stderr)
        return 2
    from bridge.backfill import read_order_ids

    order_ids = read_order_ids(lines)
    if not order_ids:
        print(f"vtex-bridge backfill: {args.order_ids} lists no order id", file=sys.stderr)
        return 2
    return asyncio.run(_backfill([(accounts[0], order_ids)], settings, dry_run=args.dry_run))


async def _backfill_range(args: argparse.Namespace, settings: Settings, accounts: tuple[Account, ...]) -> int:
    """List each account's orders created in the range, then backfill them like `--order-ids`."""
    from bridge.backfill import InvalidRange, list_order_ids, parse_bound
    from bridge.vtex.config_api import ConfigApiClient
    from bridge.vtex.config_models import ConfigApiError

    try:
        since, until = parse_bound(args.since, end=False), parse_bound(args.until, end=True)
    except InvalidRange as exc:
        print(f"vtex-bridge backfill: {exc}", file=sys.stderr)
        return 2
    jobs: list[tuple[Account, list[str]]] = []
    code = 0
    for account in accounts:
        try:
            async with ConfigApiClient.for_account(account, settings) as client:
                order_ids = await list_order_ids(client, since, until)
        except InvalidRange as exc:
            print(f"vtex-bridge backfill: account {account.name}: {exc}", file=sys.stderr)
            code = code or 2
            continue
        except ConfigApiError as exc:
            print(f"vtex-bridge backfill: account {account.name}: {exc.user_message()}", file=sys.stderr)
            code = code or exc.exit_code
            continue
        listed = f"{len(order_ids)} order(s) created between {since} and {until}"
        say(f"backfill: account {account.name}: {listed}")
        if order_ids:
            jobs.append((account, order_ids))
    if jobs:
        code = code or await _backfill(jobs, settings, dry_run=args.dry_run)
    return code


async def _backfill(jobs: list[tuple[Account, list[str]]], settings: Settings, *, dry_run: bool) -> int:
    """Backfill each account's orders from that account's OMS through one producer; exit code."""
    from bridge.kafka_producer import ProducerConfig, ProducerUnavailable, ResilientProducer
    from bridge.topics.resolver import InputTopicResolver, StaticInputTopic, active_input
    from bridge.vtex.config_models import EXIT_UNAVAILABLE

    producer = None
    # The input generation is followed while the backfill runs (`vtex-bridge topics reshard`); a dry run
    # reads it once, so that it names the topic a real run would write now.
    input_topics: InputTopicSource = StaticInputTopic(settings.input_topic)
    target = ""
    if dry_run:
        active = await active_input(settings)
        input_topics, target = StaticInputTopic(active.topic), active.describe()
    else:
        producer = ResilientProducer(
            ProducerConfig(
                bootstrap_servers=settings.kafka_bootstrap_servers, client_id="vtex-bridge-backfill"
            )
        )
        try:
            await producer.start(require_connection=True)
        except ProducerUnavailable as exc:
            print(
                f"vtex-bridge backfill: {exc}\nhint: start Kafka or check KAFKA_BOOTSTRAP_SERVERS",
                file=sys.stderr,
            )
            return EXIT_UNAVAILABLE
        input_topics = InputTopicResolver(settings)
        await input_topics.start()
    sources = input_topics

    def where() -> str:
        return f"would be produced to {target}" if dry_run else f"produced to {sources.produce_topic}"

    code = 0
    try:
        for account, order_ids in jobs:
            code = code or await _one_account(account, order_ids, settings, producer, input_topics, where)
    finally:
        if producer is not None:
            await producer.stop()
        await input_topics.stop()
    return code


async def _one_account(
    account: Account,
    order_ids: list[str],
    settings: Settings,
    producer: ResilientProducer | None,
    input_topics: InputTopicSource,
    where: Callable[[], str],
) -> int:
    """Backfill one account's orders; print its events (stdout) and the summary and failures (stderr)."""
    from bridge.backfill import BackfillAborted, backfill_orders
    from bridge.vtex.config_models import EXIT_AUTH
    from bridge.vtex.oms import OmsClient

    dry_run = producer is None
    try:
        async with OmsClient.for_account(account, settings) as oms:
            result = await backfill_orders(
                order_ids,
                oms=oms,
                sink=producer,
                topic=input_topics,
                account=account.name,
                app_key=account.app_key,
                concurrency=settings.backfill_concurrency,
                produce_timeout_s=settings.feed_poll_produce_timeout_s,
                dead_letter_topic=settings.dead_letter_topic,
            )
    except BackfillAborted as exc:
        print(
            f"vtex-bridge backfill: account {account.name}: OMS refused the credentials: {exc}\n"
            "hint: check the account's appKey / appToken (VTEX_APP_KEY / VTEX_APP_TOKEN or the accounts "
            "file); the role needs 'View order' or 'Orders Full Access'",
            file=sys.stderr,
        )
        return EXIT_AUTH
    for event in result.produced:
        print(f"{event.order_id}\t{event.state}\t{event.last_change}\t{event.event_id}\t{event.account}")
    built = f"{len(result.produced)} event(s) of account {account.name}"
    say(f"{_prefix(dry_run)}: {built} built, {where()}" if dry_run else f"backfill: {built} {where()}")
    for order_id in result.not_found:
        say(f"backfill: order {order_id} not found in OMS of account {account.name}")
    for order_id, reason in result.failed.items():
        say(f"backfill: order {order_id} failed: {reason}")
    if not result.ok:
        say("backfill: some orders were not backfilled; it is safe to run again")
        return 1
    return 0


def _prefix(dry_run: bool) -> str:
    return "backfill (dry run)" if dry_run else "backfill"
