"""`vtex-bridge config`: print the effective settings with every secret masked."""

from __future__ import annotations

import argparse

import orjson

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="print the effective settings (secrets masked)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    print(orjson.dumps(settings.public_view(), option=orjson.OPT_INDENT_2).decode())
    return 0
