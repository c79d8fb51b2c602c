"""`vtex-bridge config`: print the effective settings and accounts with every secret masked."""

from __future__ import annotations

import argparse

import orjson

from bridge.accounts import AccountRegistry, AccountsConfigError
from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="print the effective settings (secrets masked)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings, then the account registry (`accounts`), or why it is unusable (exit 2)."""
    view = settings.public_view()
    code = 0
    try:
        view["accounts"] = AccountRegistry.from_settings(settings).public_view()
    except AccountsConfigError as exc:
        view["accounts_error"] = str(exc)
        code = 2
    print(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
    return code
