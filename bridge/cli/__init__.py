"""The `vtex-bridge` command line: one entry point, one sub-command per job.

This package is the composition root: the only code that imports `processors` and `simulator` and
wires them to the rest of `bridge` (docs/architecture.md, enforced by tests/bridge/test_import_rules.py).
`commands/` holds the sub-commands, `dev/` the whole bridge on one machine (`vtex-bridge dev`).

Each sub-command lives in its own module exposing `add_parser(subparsers)`; that module stays light
(argparse only) and imports the heavy machinery (aiohttp, Faust) inside its handler, so `vtex-bridge
--help` is instant. A handler receives the parsed arguments and the settings and returns an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from typing import Final, Protocol

from bridge import __version__
from bridge.log import cli_log_level, configure_logging
from bridge.settings import Settings, load_settings

#: Modules that contribute sub-commands, in the order `--help` lists them.
COMMAND_MODULES: Final[tuple[str, ...]] = (
    "bridge.cli.commands.dev",
    "bridge.cli.commands.ingress",
    "bridge.cli.commands.worker",
    "bridge.cli.commands.sim",
    "bridge.cli.commands.replay",
    "bridge.cli.commands.order",
    "bridge.cli.commands.kafka",
    "bridge.cli.commands.topics",
    "bridge.cli.commands.config",
    "bridge.cli.commands.hook",
    "bridge.cli.commands.feed",
    "bridge.cli.commands.expr",
    "bridge.cli.commands.backfill",
    "bridge.cli.commands.asyncapi",
)

#: Sub-commands that talk to Kafka: their credentials are checked before they start.
KAFKA_COMMANDS: Final = frozenset({"ingress", "worker", "replay", "topics", "backfill", "feed"})

#: Long-running services: they log at `log_level`; every other command is a one-shot tool that logs at
#: WARNING unless the level is set explicitly (bridge.log, "command-line output").
SERVICE_COMMANDS: Final = frozenset({"dev", "ingress", "worker", "sim"})

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2


class Handler(Protocol):
    def __call__(self, args: argparse.Namespace, settings: Settings) -> int: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vtex-bridge",
        description="VTEX order notifications to ordered, de-duplicated, enriched Kafka topics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.add_parser(subparsers)
    return parser


def is_service(args: argparse.Namespace) -> bool:
    """Tell whether the parsed command runs as a service (the `feed poll` poller is one too)."""
    return args.command in SERVICE_COMMANDS or (
        args.command == "feed" and getattr(args, "feed_action", None) == "poll"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, read the settings once, run the chosen handler and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        print(f"vtex-bridge: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    level = cli_log_level(settings.log_level, "log_level" in settings.model_fields_set, is_service(args))
    configure_logging(level, settings.log_format, settings.log_repeat_interval_s)
    from bridge import aiokafka_fixes  # here, not at the top: `--help` need not import aiokafka

    aiokafka_fixes.install()  # every command's Kafka consumers stop cleanly while the broker is down
    from bridge import kafka_config

    try:
        kafka_config.install(settings)  # every Kafka client connects with the configured security
        if args.command in KAFKA_COMMANDS:  # a refused password or certificate fails now, not in a retry loop
            asyncio.run(kafka_config.verify_credentials(settings))
    except kafka_config.KafkaConfigError as exc:
        print(f"vtex-bridge: invalid Kafka configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    handler: Handler = args.func
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
