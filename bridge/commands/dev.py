"""`vtex-bridge dev` (what `make run` runs): the whole bridge on this machine with a live view."""

from __future__ import annotations

import argparse

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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.dev.run import run as run_dev

    return run_dev(settings)
