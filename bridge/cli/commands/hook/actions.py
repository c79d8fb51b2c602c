"""What `hook show|delete|set|ensure` do for one account, given a Config API client for it.

`set` and `ensure` never narrow a configured filter silently: when the desired filter would stop
notifying some changes the existing one notifies (`bridge.vtex.filter_scope`), they print the
difference and refuse (exit 10) unless `--replace-filter`. `show` masks every header value and the
appKey.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Final

from bridge.cli.commands.hook.desired import desired_hook_config, hook_difference
from bridge.settings import Settings
from bridge.vtex.config_models import (
    EXIT_NOT_FOUND,
    ConfigApiError,
    Filter,
    HookConfig,
    filter_from_json,
)

if TYPE_CHECKING:
    from bridge.accounts import Account
    from bridge.vtex.config_api import ConfigApiClient

#: `set`/`ensure` exit with this when the desired filter would narrow the configured one.
EXIT_FILTER_NARROWS: Final = 10
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
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    desired = desired_hook_config(args, settings, account)
    if _refused_narrowing(args, account, await client.get_hook_config(), desired):
        return EXIT_FILTER_NARROWS
    await client.set_hook_config(desired)
    print(f"account {account.name}: hook configured: {desired.filter.type} -> {desired.url}", file=sys.stderr)
    return 0


async def _ensure(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    desired = desired_hook_config(args, settings, account)
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
    """Print the difference and return True when `desired` narrows the configured filter unasked."""
    from bridge.vtex.filter_scope import narrowing

    existing = _configured_filter(current)
    narrower = None if existing is None else narrowing(existing, desired.filter)
    if narrower is None:
        return False
    verb = "replacing" if args.replace_filter else "refusing to replace"
    print(f"account {account.name}: {verb} a hook filter that notifies more:", file=sys.stderr)
    for line in narrower.lines():
        print(line, file=sys.stderr)
    if args.replace_filter:
        return False
    print(
        f"vtex-bridge hook {args.hook_action}: account {account.name}: the desired filter would stop "
        "notifying these changes; pass --replace-filter to replace it anyway",
        file=sys.stderr,
    )
    return True


def _configured_filter(current: dict[str, Any] | None) -> Filter | None:
    """Return the filter of VTEX's GET answer, None when there is no hook or it cannot be read."""
    if current is None:
        return None
    try:
        return filter_from_json(current.get("filter"))
    except ConfigApiError:
        return None


ACTIONS: Final = {"show": _show, "delete": _delete, "set": _set, "ensure": _ensure}


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
