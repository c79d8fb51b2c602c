"""`vtex-bridge asyncapi`: print the AsyncAPI document of the downstream topics for these settings."""

from __future__ import annotations

import argparse

import orjson

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "asyncapi", help="print the AsyncAPI document of the downstream topics (for consumer teams)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from processors.asyncapi import render

    print(orjson.dumps(render(settings), option=orjson.OPT_INDENT_2).decode())
    return 0
