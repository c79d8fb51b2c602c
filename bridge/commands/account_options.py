"""`--account NAME` and `--all-accounts`: which registry accounts a control-plane command acts on.

One hook and one feed belong to one appKey, so `hook` and `feed` act on one account at a time: the
registry's default account unless told otherwise (`bridge.accounts.AccountRegistry.select`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bridge.settings import Settings

if TYPE_CHECKING:
    from bridge.accounts import Account

#: Exit code of a command given an unusable account configuration or an unknown account.
EXIT_ACCOUNTS: int = 2


def add_account_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--account NAME` and `--all-accounts` (mutually exclusive) to `parser`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--account",
        metavar="NAME",
        help="the configured account to act on (default: the first configured, VTEX_ACCOUNT)",
    )
    group.add_argument(
        "--all-accounts", action="store_true", help="act on every configured account, one after the other"
    )


def selected_accounts(args: argparse.Namespace, settings: Settings) -> tuple[Account, ...]:
    """Return the accounts the options name; raise `AccountsConfigError` naming the known ones."""
    from bridge.accounts import AccountRegistry

    registry = AccountRegistry.from_settings(settings)
    return registry.select(getattr(args, "account", None), all_accounts=getattr(args, "all_accounts", False))
