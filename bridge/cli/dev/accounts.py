"""The demo's extra simulated accounts (`vtex-bridge dev --accounts N`): one accounts file for every service.

The simulator serves `{account}-2` ... `{account}-N` beside the primary account, under
`/accounts/{name}/`, with made-up credentials (`simulator.config.SimAccount.made_up`). This writes the
registry file (`VTEX_BRIDGE_ACCOUNTS_FILE`) that gives the ingress, the worker and the feed poller the
same accounts, each with a hook secret generated for this run; the primary account stays the settings'
own (`VTEX_ACCOUNT`). The file holds demo credentials only and is written owner-readable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import orjson

from bridge.settings import Settings, VtexSettings
from simulator.config import SimAccount

FILE_NAME = "accounts.json"


def demo_account_names(settings: VtexSettings, count: int) -> list[str]:
    """Return every account name the demo serves: the primary, then `{primary}-2` ... `{primary}-{count}`."""
    return [settings.vtex_account, *(f"{settings.vtex_account}-{n}" for n in range(2, count + 1))]


def write_demo_accounts(settings: Settings, count: int, run_dir: Path) -> Path:
    """Write the accounts file of the demo's extra accounts into `run_dir`; return its path."""
    entries = []
    for name in demo_account_names(settings, count)[1:]:
        account = SimAccount.made_up(name)
        entries.append(
            {
                "account": name,
                "app_key": account.app_key,
                "app_token": account.app_token,
                "header": settings.hook_secret_header,
                "secrets": [secrets.token_urlsafe(24)],
            }
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / FILE_NAME
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(orjson.dumps(entries, option=orjson.OPT_INDENT_2))
    return path
