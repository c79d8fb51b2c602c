"""`vtex-bridge dev`: placeholder until its issue lands."""

from __future__ import annotations

import argparse
import sys

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dev", help="(not implemented yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    print("vtex-bridge dev: not implemented yet", file=sys.stderr)
    return 2
