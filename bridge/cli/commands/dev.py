"""`vtex-bridge dev` (what `make run` runs): the whole bridge on this machine with a live view."""

from __future__ import annotations

import argparse
import sys

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dev",
        help="run local Kafka + simulator + worker + ingress (or your cluster/account) with a live view",
        description=(
            "On the embedded default: a local Apache Kafka broker, the VTEX simulator, the processor and "
            "the ingress, with orders flowing. Set KAFKA_BOOTSTRAP_SERVERS to use your cluster, and "
            "VTEX_ACCOUNT/VTEX_APP_KEY/VTEX_APP_TOKEN to use your VTEX account instead of the simulator."
        ),
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        metavar="N",
        help="simulated VTEX accounts to demo (the primary plus simaccount-2 ...; default 1)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.cli.dev.run import run as run_dev

    if args.accounts < 1:
        print("vtex-bridge dev: --accounts must be at least 1", file=sys.stderr)
        return 2
    return run_dev(settings, accounts=args.accounts)
