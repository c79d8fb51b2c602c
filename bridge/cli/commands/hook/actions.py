"""What `hook show|delete|set|ensure` do for one account, given a Config API client for it.

`set` and `ensure` never narrow a configured filter silently (`bridge.cli.commands.filter_guard`, the
rule `feed set` follows too): when the desired filter would stop notifying some changes the existing
one notifies, they print the difference and refuse (exit 10) unless `--replace-filter`. Their filter
is built once per run, before the first account (its warnings are about the settings, not an account),
and handed to each account's action. `show` masks every header value and the appKey.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Final

from bridge.cli.commands.filter_guard import EXIT_FILTER_NARROWS, refused_narrowing
from bridge.cli.commands.hook.desired import desired_hook_config, hook_difference
from bridge.settings import Settings
from bridge.vtex.config_models import EXIT_NOT_FOUND, Filter, HookConfig

if TYPE_CHECKING:
    from bridge.accounts import Account
    from bridge.vtex.config_api import ConfigApiClient

MASK: Final = "**********"


async def _show(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    current = await client.get_hook_config()
    if current is None:
        print(
            f"vtex-bridge hook show: account {account.name}: no hook is configured for its appKey",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    _print_json({"account": account.name, **mask_headers(current)})
    return 0


async def _delete(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    await client.delete_hook_config()
    print(f"account {account.name}: hook deleted", file=sys.stderr)
    return 0


async def _set(
    args: argparse.Namespace,
    settings: Settings,
    account: Account,
    client: ConfigApiClient,
    chosen: Filter,
) -> int:
    desired = desired_hook_config(args, settings, chosen, account)
    if _refused_narrowing(args, account, await client.get_hook_config(), desired):
        return EXIT_FILTER_NARROWS
    await client.set_hook_config(desired)
    print(f"account {account.name}: hook configured: {desired.filter.type} -> {desired.url}", file=sys.stderr)
    return 0


async def _ensure(
    args: argparse.Namespace,
    settings: Settings,
    account: Account,
    client: ConfigApiClient,
    chosen: Filter,
) -> int:
    desired = desired_hook_config(args, settings, chosen, account)
    current = await client.get_hook_config()
    difference = hook_difference(current, desired)
    if difference is None:
        print(f"account {account.name}: hook unchanged: already configured as desired", file=sys.stderr)
        return 0
    if _refused_narrowing(args, account, current, desired):
        return EXIT_FILTER_NARROWS
    await client.set_hook_config(desired)
    print(
        f"account {account.name}: hook configured ({difference}): {desired.filter.type} -> {desired.url}",
        file=sys.stderr,
    )
    return 0


def _refused_narrowing(
    args: argparse.Namespace, account: Account, current: dict[str, Any] | None, desired: HookConfig
) -> bool:
    """Apply the shared never-narrow-silently rule to the hook's filter."""
    return refused_narrowing(
        f"hook {args.hook_action}", "hook", account, current, desired.filter, replace=args.replace_filter
    )


#: The actions that only read or delete, and those that write a filter (given the run's filter).
ACTIONS: Final = {"show": _show, "delete": _delete}
FILTER_ACTIONS: Final = {"set": _set, "ensure": _ensure}


def mask_headers(config: dict[str, Any]) -> dict[str, Any]:
    """Return `config` with every hook header value and the appKey (if VTEX echoes it) masked."""
    shown = dict(config)
    hook = shown.get("hook")
    if isinstance(hook, dict) and isinstance(hook.get("headers"), dict):
        shown["hook"] = {**hook, "headers": dict.fromkeys(hook["headers"], MASK)}
    origin = shown.get("origin")
    if isinstance(origin, dict):
        shown["origin"] = {k: MASK if k.lower() == "key" else v for k, v in origin.items()}
    return shown


def _print_json(value: Any) -> None:
    import orjson

    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())
