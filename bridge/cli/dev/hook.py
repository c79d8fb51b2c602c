"""Register the ingress as the account's hook (and the demo's Feed v3), through the control plane's client.

The hook notifies every change (FromOrders `$exists(orderId)` with `disableSingleFire`), on the
simulator and on a real account alike: a FromWorkflow list cannot name every state VTEX notifies (the
null state, `payment-denied`, undocumented statuses). With several accounts (`vtex-bridge dev
--accounts`), each account's hook and feed are configured with its own appKey, header and secret.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Final

from bridge.settings import Settings
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import (
    FeedConfig,
    FeedQueue,
    HookConfig,
    VtexBadRequest,
    validate_hook_url,
)
from bridge.vtex.filter_scope import EVERY_CHANGE as EVERY_CHANGE  # the demos' filter, re-exported

if TYPE_CHECKING:
    from bridge.accounts import Account

SETUP_DEADLINE_S: Final = 30.0


async def configure_every_change_hook(settings: Settings, url: str, *, allow_http: bool) -> None:
    """Point the appKey's hook at `url` with the ingress secret header; retry while the ping fails."""
    headers = {settings.hook_secret_header: settings.hook_secret.get_secret_value()}
    async with ConfigApiClient.from_settings(settings) as client:
        await _set_hook(client, url, headers, allow_http=allow_http)


async def configure_account_hook(settings: Settings, account: Account, url: str, *, allow_http: bool) -> None:
    """Point `account`'s hook at `url` with its header and current secret; retry while the ping fails."""
    secret = account.hook_secrets[0].get_secret_value() if account.hook_secrets else ""
    async with ConfigApiClient.for_account(account, settings) as client:
        await _set_hook(client, url, {account.hook_header: secret}, allow_http=allow_http)


async def _set_hook(client: ConfigApiClient, url: str, headers: dict[str, str], *, allow_http: bool) -> None:
    validate_hook_url(url, allow_http=allow_http)
    config = HookConfig(filter=EVERY_CHANGE, url=url, headers=headers)
    deadline = time.monotonic() + SETUP_DEADLINE_S
    while True:
        try:
            await client.set_hook_config(config)
            return
        except VtexBadRequest:
            # VTEX answers 400 when its ping of the URL fails: the ingress may still be warming up.
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def configure_demo_feed(settings: Settings) -> None:
    """Configure the simulator's Feed v3 with every change, so the backup poller has work to show.

    The feed sees the same changes as the hook: what the poller produces is absorbed by the
    processor's de-dup, which is exactly what the backup path is for.
    """
    async with ConfigApiClient.from_settings(settings) as client:
        await client.set_feed_config(DEMO_FEED)


async def configure_account_feed(settings: Settings, account: Account) -> None:
    """Configure `account`'s Feed v3 with every change (see `configure_demo_feed`)."""
    async with ConfigApiClient.for_account(account, settings) as client:
        await client.set_feed_config(DEMO_FEED)


#: Every change, hidden 30 s after a read (a demo's poller that stops shows its items again soon).
DEMO_FEED: Final = FeedConfig(filter=EVERY_CHANGE, queue=FeedQueue(visibility_timeout_s=30))
