"""`vtex-bridge backfill --order-ids FILE | --since A --until B`: re-inject missed order events.

Each order is read from OMS and produced to the input topic as a `source: backfill` event for its
current status (see `bridge.backfill`); running it twice produces the same event ids, which the
processor de-dups. `--since/--until` finds the orders *created* in the range with VTEX's List orders
API (the simulator does not serve it); an order created earlier that changed during the outage needs
`--order-ids`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.log import say
from bridge.settings import Settings


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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if args.order_ids is not None and (args.since or args.until):
        print("vtex-bridge backfill: give either --order-ids or --since/--until", file=sys.stderr)
        return 2
    if args.order_ids is None:
        if not (args.since and args.until):
            print("vtex-bridge backfill: give --order-ids FILE, or both --since and --until", file=sys.stderr)
            return 2
        return asyncio.run(_backfill_range(args, settings))
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
    return asyncio.run(_backfill(order_ids, settings, dry_run=args.dry_run))


async def _backfill_range(args: argparse.Namespace, settings: Settings) -> int:
    """List the orders created in the range, then backfill them like `--order-ids`."""
    from bridge.backfill import InvalidRange, list_order_ids, parse_bound
    from bridge.vtex.config_api import ConfigApiClient
    from bridge.vtex.config_models import ConfigApiError

    try:
        since, until = parse_bound(args.since, end=False), parse_bound(args.until, end=True)
        async with ConfigApiClient.from_settings(settings) as client:
            order_ids = await list_order_ids(client, since, until)
    except InvalidRange as exc:
        print(f"vtex-bridge backfill: {exc}", file=sys.stderr)
        return 2
    except ConfigApiError as exc:
        print(f"vtex-bridge backfill: {exc.user_message()}", file=sys.stderr)
        return exc.exit_code
    say(f"backfill: {len(order_ids)} order(s) created between {since} and {until}")
    if not order_ids:
        return 0
    return await _backfill(order_ids, settings, dry_run=args.dry_run)


async def _backfill(order_ids: list[str], settings: Settings, *, dry_run: bool) -> int:
    from bridge.backfill import BackfillAborted, backfill_orders
    from bridge.kafka_producer import ProducerConfig, ProducerUnavailable, ResilientProducer
    from bridge.topics.resolver import InputTopicResolver, InputTopicSource, StaticInputTopic, active_input
    from bridge.vtex.config_models import EXIT_AUTH, EXIT_UNAVAILABLE
    from bridge.vtex.oms import OmsClient

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
    try:
        async with OmsClient.from_settings(settings) as oms:
            result = await backfill_orders(
                order_ids,
                oms=oms,
                sink=producer,
                topic=input_topics,
                account=settings.vtex_account,
                app_key=settings.vtex_app_key,
                concurrency=settings.backfill_concurrency,
                produce_timeout_s=settings.feed_poll_produce_timeout_s,
                dead_letter_topic=settings.dead_letter_topic,
            )
    except BackfillAborted as exc:
        print(
            f"vtex-bridge backfill: OMS refused the credentials: {exc}\n"
            "hint: check VTEX_APP_KEY / VTEX_APP_TOKEN; the role needs 'View order' or 'Orders Full Access'",
            file=sys.stderr,
        )
        return EXIT_AUTH
    finally:
        if producer is not None:
            await producer.stop()
        await input_topics.stop()
    for event in result.produced:
        print(f"{event.order_id}\t{event.state}\t{event.last_change}\t{event.event_id}")
    if dry_run:
        say(f"backfill (dry run): {len(result.produced)} event(s) built, would be produced to {target}")
    else:
        say(f"backfill: {len(result.produced)} event(s) produced to {input_topics.produce_topic}")
    for order_id in result.not_found:
        say(f"backfill: order {order_id} not found in OMS")
    for order_id, reason in result.failed.items():
        say(f"backfill: order {order_id} failed: {reason}")
    if not result.ok:
        say("backfill: some orders were not backfilled; it is safe to run again")
        return 1
    return 0
