"""`vtex-bridge hook show|set|delete|ensure`: the VTEX hook that calls our ingress.

`ensure` is what a scheduler runs (e.g. hourly): it reads the configuration and writes it only when it
differs from the desired one (no change, no call), so VTEX deleting the hook after 3 days without
notifications (REFERENCE.md section 5) is repaired within one period. It also reads the ingress's
`last hook received` gauge and warns when no hook arrived for `control_hook_silence_warn_s`.

The secret header VTEX must send takes its value from the account registry (`bridge.accounts`: the
account's header and its first secret), the settings or a secret file, never from the command line
(argv ends up in shell history and process lists), and `show` masks every header value.

Every action acts on one account of the registry (`--account NAME`, default the first configured) or
on each in turn (`--all-accounts`), and names the account on every line it prints; with several
accounts a failure on one is reported and the others still run (the exit code is the first failure's).

`set` and `ensure` never narrow a configured filter silently (`bridge.cli.commands.filter_guard`, shared
with `feed set`): when the desired filter would stop notifying some changes the existing one notifies,
they print the difference and refuse (exit 10) unless `--replace-filter`. Their filter is built once
per run, so a warning about its statuses is printed once, not once per account. The default filter
is FromOrders `$exists(orderId)` with `disableSingleFire`: every change of every order, including the
null state, `payment-denied` and undocumented statuses that no FromWorkflow list can name.

This module parses the arguments and runs the action for each selected account; `actions` holds what
each action does, `desired` the configuration it wants and how it differs from VTEX's, `silence` the
ingress check, and `bridge.cli.commands.filter_options` the filter options shared with `feed set`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.cli.commands.account_options import (
    add_account_arguments,
    manageable,
    reporting_refusals,
    run_per_account,
    selected_accounts,
)
from bridge.cli.commands.filter_guard import add_replace_filter_argument
from bridge.cli.commands.filter_options import add_filter_arguments, default_hook_filter, filter_from_args
from bridge.cli.commands.hook.actions import ACTIONS, FILTER_ACTIONS
from bridge.cli.commands.hook.desired import SecretFileError
from bridge.cli.commands.hook.silence import EXIT_SILENT, check_ingress_silence
from bridge.settings import Settings

if TYPE_CHECKING:
    from bridge.accounts import Account


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("hook", help="show, set, delete or ensure the VTEX order hook")
    actions = parser.add_subparsers(dest="hook_action", metavar="ACTION", required=True)

    show = actions.add_parser("show", help="print the hook configuration (header values, appKey masked)")
    add_account_arguments(show)
    show.set_defaults(func=run)

    delete = actions.add_parser("delete", help="delete the hook configuration")
    add_account_arguments(delete)
    delete.set_defaults(func=run)

    for name, text in (
        ("set", "create or replace the hook configuration"),
        ("ensure", "configure the hook only if it differs (idempotent; run it from a scheduler)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--url", help="hook URL (default: control_hook_url, else dev_public_hook_url)")
        action.add_argument(
            "--allow-http", action="store_true", help="accept a plain-http URL (local simulator/demo only)"
        )
        action.add_argument(
            "--secret-file", type=Path, help="file whose first line is the hook secret (instead of settings)"
        )
        add_filter_arguments(action)
        add_account_arguments(action)
        add_replace_filter_argument(action)
        if name == "ensure":
            action.add_argument("--ingress-metrics-url", help="ingress Prometheus endpoint to check")
            action.add_argument(
                "--silence-warn-after",
                type=float,
                metavar="SECONDS",
                help="warn after this long without hooks",
            )
            action.add_argument(
                "--fail-on-silence",
                action="store_true",
                help=f"exit {EXIT_SILENT} (after ensuring) when the ingress has been silent too long "
                "for an account",
            )
            action.add_argument(
                "--skip-silence-check", action="store_true", help="do not read the ingress metrics"
            )
        action.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.accounts import AccountsConfigError

    action = args.hook_action

    def work() -> int:
        accounts = selected_accounts(args, settings)
        if len(accounts) > 1 and getattr(args, "secret_file", None) is not None:
            raise AccountsConfigError("--secret-file names one account's secret: use it with --account")
        try:
            return asyncio.run(_run_each(action, args, settings, accounts))
        except SecretFileError as exc:
            print(f"vtex-bridge hook {action}: {exc}", file=sys.stderr)
            return 2

    return reporting_refusals(f"hook {action}", work)


async def _run_each(
    action: str, args: argparse.Namespace, settings: Settings, accounts: tuple[Account, ...]
) -> int:
    """Run `action` for each account in turn; a VTEX refusal for one is reported and the rest still run.

    With `--all-accounts`, the accounts configured without an appToken are passed over (their hook
    cannot be read or changed from here), and so are, for `set` and `ensure`, those without a hook
    secret: their hooks are not received by this bridge (e.g. feed only), so pointing a hook at the
    ingress would only get refused notifications. The silence check covers every account with a
    hook secret."""
    heard = [a.name for a in accounts if a.hook_secrets]
    if getattr(args, "all_accounts", False):
        accounts = manageable(accounts, need_secret=action in FILTER_ACTIONS, what="hook")
    if action in FILTER_ACTIONS:
        # One filter for the run: it depends on the options and settings only, so its warnings
        # (unknown statuses) and refusals (bad JSONata, mixed types) are printed once.
        chosen = filter_from_args(args, for_hook=True, fallback=default_hook_filter(settings))
        write = FILTER_ACTIONS[action]
        code = await run_per_account(
            f"hook {action}",
            accounts,
            settings,
            lambda account, client: write(args, settings, account, client, chosen),
        )
    else:
        code = await run_per_account(
            f"hook {action}",
            accounts,
            settings,
            lambda account, client: ACTIONS[action](args, settings, account, client),
        )
    if action == "ensure" and not args.skip_silence_check:
        silent = await check_ingress_silence(args, settings, heard)
        if silent and args.fail_on_silence and not code:
            code = EXIT_SILENT
    return code
