"""`vtex-bridge topics plan|apply|describe|reshard`: the bridge's topic set, declared from settings.

- `plan`: what `apply` would change, and what it refuses. Exit 0 = the cluster matches, 2 = changes
  pending (`apply` makes them), 3 = refused or impossible differences present (e.g. more partitions on
  a topic keyed by OrderId, fewer replicas than min(3, brokers) without `--allow-under-replicated`),
  1 = error (bad settings, Kafka unreachable).
- `apply`: create missing topics, set configs; never the refused changes. Exit 0 = done (idempotent),
  3 = done but refused/impossible differences remain, 1 = a change failed or error.
- `describe`: our topics as the cluster has them (partitions, replication, configs) and the worker
  group's lag per input partition. Exit 0, or 1 on error.
- `reshard --partitions N`: the safe path to more input partitions (`bridge.topics.reshard`).
- `acls plan|apply`: the least privileges of each service's principal (`bridge.topics.acls`): plan exits
  0 = in place, 2 = ACLs to add; apply adds them (idempotent), exit 0, or 1 on error.

docs/topics.md describes them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bridge.settings import KafkaSettings, Settings

EXIT_ERROR = 1
UNDER_REPLICATED_HELP = "allow fewer replicas than min(3, brokers) (development; else refused, exit 3)"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "topics", help="plan, apply and describe the bridge's Kafka topics; reshard the input topic"
    )
    actions = parser.add_subparsers(dest="topics_action", metavar="ACTION", required=True)
    plan = actions.add_parser(
        "plan", help="show what apply would change (exit 0 none, 2 pending, 3 refused/impossible)"
    )
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    plan.add_argument("--allow-under-replicated", action="store_true", help=UNDER_REPLICATED_HELP)
    plan.set_defaults(func=run_plan)
    apply = actions.add_parser(
        "apply", help="create missing topics and set configs; never the refused changes (exit 0, 3, 1)"
    )
    apply.add_argument("--json", action="store_true", help="print the result as one JSON document")
    apply.add_argument("--allow-under-replicated", action="store_true", help=UNDER_REPLICATED_HELP)
    apply.set_defaults(func=run_apply)
    describe = actions.add_parser("describe", help="our topics as the cluster has them, and the group's lag")
    describe.add_argument("--json", action="store_true", help="print the report as one JSON document")
    describe.set_defaults(func=run_describe)
    reshard = actions.add_parser(
        "reshard", help="move to an input topic with more partitions without breaking per-order order"
    )
    reshard.add_argument("--partitions", type=int, required=True, help="partition count of the new input")
    reshard.add_argument("--quiet-s", type=float, default=None, help="quiet period (see docs/operations.md)")
    reshard.add_argument("--timeout-s", type=float, default=None, help="bound of the whole procedure")
    reshard.set_defaults(func=run_reshard)
    acls = actions.add_parser(
        "acls",
        help="the least privileges of each service's principal: plan (exit 0 none, 2 pending) or apply",
    )
    acls.add_argument("acls_action", choices=("plan", "apply"))
    acls.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    acls.set_defaults(func=run_acls)


def run_plan(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.topics.apply import read_plan
    from bridge.topics.cluster import admin_client
    from bridge.topics.render import plan_text

    settings = _allowing(args, settings)

    async def go() -> int:
        async with admin_client(settings.kafka_bootstrap_servers, settings.topics_admin_timeout_s) as admin:
            _, plan = await read_plan(admin, settings)
        _print(plan.to_json() if args.json else plan_text(plan), args.json)
        return plan.exit_code

    return _guarded("plan", settings, lambda: asyncio.run(go()))


def run_apply(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.topics.apply import apply_topics
    from bridge.topics.render import apply_text

    settings = _allowing(args, settings)

    def go() -> int:
        result = asyncio.run(apply_topics(settings))
        _print(result.to_json() if args.json else apply_text(result), args.json)
        return result.exit_code

    return _guarded("apply", settings, go)


def run_describe(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.topics.describe import describe_topics
    from bridge.topics.render import describe_text

    def go() -> int:
        report = asyncio.run(describe_topics(settings))
        _print(report if args.json else describe_text(report), args.json)
        return 0

    return _guarded("describe", settings, go)


def run_reshard(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.topics.reshard import run_reshard as reshard

    code: int = asyncio.run(
        reshard(settings, partitions=args.partitions, quiet_s=args.quiet_s, timeout_s=args.timeout_s)
    )
    return code


def run_acls(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.topics.acls import apply_acls, plan_acls
    from bridge.topics.cluster import admin_client

    async def go() -> int:
        async with admin_client(settings.kafka_bootstrap_servers, settings.topics_admin_timeout_s) as admin:
            if args.acls_action == "plan":
                plan = await plan_acls(admin, settings)
                _print(plan.to_json() if args.json else plan.text(), args.json)
                return plan.exit_code
            done = await apply_acls(admin, settings)
        _print(done.to_json() if args.json else f"added {len(done.missing)} ACLs\n{done.text()}", args.json)
        return 0

    return _guarded(f"acls {args.acls_action}", settings, lambda: asyncio.run(go()))


def _allowing(args: argparse.Namespace, settings: Settings) -> Settings:
    """Return `settings` with `--allow-under-replicated` applied."""
    if getattr(args, "allow_under_replicated", False):
        return settings.model_copy(update={"topics_allow_under_replicated": True})
    return settings


def _print(value: object, as_json: bool) -> None:
    if as_json:
        import orjson

        print(orjson.dumps(value).decode())
    else:
        print(value)


def _guarded(action: str, settings: KafkaSettings, go: Callable[[], int]) -> int:
    """Run `go`; turn bad settings and an unreachable cluster into a message and exit code 1."""
    from aiokafka.errors import KafkaError

    from bridge.topics.acls import AclError
    from bridge.topics.cluster import ClusterError
    from bridge.topics.generation import GenerationError
    from bridge.topics.spec import TopicSpecError
    from processors.routing import RoutingConfigError

    try:
        return go()
    except (TopicSpecError, RoutingConfigError) as exc:
        print(f"vtex-bridge topics {action}: invalid topic settings: {exc}", file=sys.stderr)
    except (KafkaError, ClusterError, GenerationError, AclError, TimeoutError, OSError) as exc:
        print(
            f"vtex-bridge topics {action}: Kafka at {settings.kafka_bootstrap_servers} failed: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
    return EXIT_ERROR
