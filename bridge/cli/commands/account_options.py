"""`--account NAME` and `--all-accounts`: which registry accounts a control-plane command acts on.

One hook and one feed belong to one appKey, so `hook` and `feed` act on one account at a time: the
registry's default account unless told otherwise (`bridge.accounts.AccountRegistry.select`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bridge.settings import Settings

if TYPE_CHECKING:
    from bridge.accounts import Account
    from bridge.vtex.config_api import ConfigApiClient

#: Exit code of a command given an unusable account configuration or an unknown account.
EXIT_ACCOUNTS: int = 2


def reporting_refusals(command: str, work: Callable[[], int]) -> int:
    """Return `work()`, or the exit code of a refusal every per-account command shares, with its message
    on stderr: an unusable account configuration or unknown account, VTEX refusing a call, an invalid
    JSONata expression in the filter options."""
    from bridge.accounts import AccountsConfigError
    from bridge.expressions import ExpressionError
    from bridge.vtex.config_models import EXIT_BAD_REQUEST, ConfigApiError

    try:
        return work()
    except AccountsConfigError as exc:
        print(f"vtex-bridge {command}: {exc}", file=sys.stderr)
        return EXIT_ACCOUNTS
    except ConfigApiError as exc:
        print(f"vtex-bridge {command}: {exc.user_message()}", file=sys.stderr)
        return exc.exit_code
    except ExpressionError as exc:
        print(f"vtex-bridge {command}: invalid JSONata expression: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST


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


def manageable(accounts: tuple[Account, ...], *, need_secret: bool, what: str) -> tuple[Account, ...]:
    """Return the accounts whose `what` (hook, feed) this command can manage, naming the others on stderr.

    Without an appToken an account's configuration cannot be read or changed from here; with
    `need_secret`, an account without a hook secret is passed over too (its hooks are not received).
    """
    kept = []
    for account in accounts:
        if not account.app_token.get_secret_value():
            why = f"no app token configured (its {what} cannot be managed from here)"
        elif need_secret and not account.hook_secrets:
            why = "no hook secret configured (its hooks are not received here)"
        else:
            kept.append(account)
            continue
        print(f"account {account.name}: skipped: {why}", file=sys.stderr)
    return tuple(kept)


async def run_per_account(
    command: str,
    accounts: tuple[Account, ...],
    settings: Settings,
    run_one: Callable[[Account, ConfigApiClient], Awaitable[int]],
) -> int:
    """Run `run_one` for each account with its own config client, in turn; return the first failure's
    exit code. A VTEX refusal for one account is reported and the others still run."""
    from bridge.vtex.config_api import ConfigApiClient
    from bridge.vtex.config_models import ConfigApiError

    failures: list[int] = []
    for account in accounts:
        try:
            async with ConfigApiClient.for_account(account, settings) as client:
                code = await run_one(account, client)
        except ConfigApiError as exc:
            print(f"vtex-bridge {command}: account {account.name}: {exc.user_message()}", file=sys.stderr)
            code = exc.exit_code
        if code:
            failures.append(code)
    if len(accounts) > 1 and failures:
        print(f"vtex-bridge {command}: {len(failures)} of {len(accounts)} account(s) failed", file=sys.stderr)
    return failures[0] if failures else 0
