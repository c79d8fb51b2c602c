"""The hook configuration `hook set|ensure` want, and how it differs from the one VTEX has.

The secret header VTEX must send takes its value from the account registry (the account's header and
its first secret), the settings or a secret file, never from the command line (argv ends up in shell
history and process lists). `hook_difference` is what makes `ensure` "no change, no call".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.settings import Settings
from bridge.vtex.config_models import (
    ConfigApiError,
    Filter,
    HookConfig,
    VtexBadRequest,
    WorkflowFilter,
    filter_from_json,
    validate_hook_url,
)

if TYPE_CHECKING:
    from bridge.accounts import Account


class SecretFileError(ValueError):
    """The secret file is missing, unreadable or empty (its content is never shown)."""


def read_secret(settings: Settings, secret_file: Path | None, account: Account | None = None) -> str:
    """Return the hook secret VTEX must send for `account`.

    The file's first line when `--secret-file` names one (or `control_hook_secret_file`, for the
    settings' own account), else the account's current secret (its first), else `hook_secret`."""
    own = account is None or account.name == settings.vtex_account
    path = secret_file or (settings.control_hook_secret_file if own else None)
    if path is None:
        if account is None:
            return settings.hook_secret.get_secret_value()
        return account.hook_secrets[0].get_secret_value() if account.hook_secrets else ""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SecretFileError(f"cannot read the secret file {path}: {exc.strerror}") from None
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise SecretFileError(f"the secret file {path} is empty")
    return secret


def desired_hook_config(
    args: argparse.Namespace, settings: Settings, chosen: Filter, account: Account | None = None
) -> HookConfig:
    """Return the hook configuration the options and settings ask for, checked like VTEX would.

    `chosen` is the run's filter (`filter_options.filter_from_args`), built once for every account."""

    url = args.url or settings.control_hook_url or settings.dev_public_hook_url
    if not url:
        raise VtexBadRequest(
            "no hook URL given",
            status=400,
            hint="pass --url or set VTEX_BRIDGE_CONTROL_HOOK_URL to the ingress's public https URL",
            local=True,
        )
    validate_hook_url(url, allow_http=args.allow_http)
    secret = read_secret(settings, args.secret_file, account)
    header = account.hook_header if account is not None else settings.hook_secret_header
    headers = {header: secret} if secret else {}
    if not secret:
        whose = f" for account {account.name}" if account is not None else ""
        print(
            f"warning: no hook secret configured{whose}; the ingress will refuse the notifications",
            file=sys.stderr,
        )
    return HookConfig(filter=chosen, url=url, headers=headers)


def hook_difference(current: dict[str, Any] | None, desired: HookConfig) -> str | None:
    """Return why `current` (VTEX's GET) differs from `desired`, or None when it does not.

    Header values are compared when VTEX shows them; a GET without headers cannot reveal a rotated
    secret, so `hook set` is the way to push a new one (REFERENCE.md section 5: the GET is undocumented).
    """

    if current is None:
        return "no hook was configured"
    hook = current.get("hook") if isinstance(current.get("hook"), dict) else {}
    assert isinstance(hook, dict)
    if hook.get("url") != desired.url:
        return "URL differs"
    try:
        existing = filter_from_json(current.get("filter"))
    except ConfigApiError:
        return "filter unreadable"
    if isinstance(existing, WorkflowFilter) and isinstance(desired.filter, WorkflowFilter):
        if set(existing.statuses) != set(desired.filter.statuses):
            return "statuses differ"
    elif existing != desired.filter:
        return "filter differs"
    headers = hook.get("headers")
    if isinstance(headers, dict):
        shown = {str(k).lower(): str(v) for k, v in headers.items()}
        wanted = {k.lower(): v for k, v in desired.headers.items()}
        if shown.keys() != wanted.keys():
            return "headers differ"
        # A value VTEX shows masked (or empty) cannot be compared; re-posting it every run would break
        # "no change, no call", so only visible values count.
        if any(not _looks_masked(shown[k]) and shown[k] != wanted[k] for k in wanted):
            return "headers differ"
    return None


def _looks_masked(value: str) -> bool:
    return not value.strip("*x#• ")
