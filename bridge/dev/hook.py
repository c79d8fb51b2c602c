"""Register the ingress as the account's hook (and the demo's Feed v3), through the control plane's client."""

from __future__ import annotations

import asyncio
import time
from typing import Final

from bridge.settings import Settings
from bridge.statuses import HOOK_FILTER_STATUSES
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import (
    FeedConfig,
    FeedQueue,
    Filter,
    HookConfig,
    OrdersFilter,
    VtexBadRequest,
    WorkflowFilter,
    validate_hook_url,
)

#: The simulator's demo notifies every change, so undocumented and null states show their routing too.
EVERY_CHANGE: Final = OrdersFilter("$exists(orderId)", disable_single_fire=True)
#: A real account gets every documented hook status.
EVERY_STATUS: Final = WorkflowFilter(tuple(sorted(HOOK_FILTER_STATUSES)))
SETUP_DEADLINE_S: Final = 30.0


async def configure_every_change_hook(settings: Settings, url: str, *, allow_http: bool) -> None:
    """Point the appKey's hook at `url` with the ingress secret header; retry while the ping fails."""
    validate_hook_url(url, allow_http=allow_http)
    hook_filter: Filter = EVERY_CHANGE if allow_http else EVERY_STATUS
    headers = {settings.hook_secret_header: settings.hook_secret.get_secret_value()}
    config = HookConfig(filter=hook_filter, url=url, headers=headers)
    deadline = time.monotonic() + SETUP_DEADLINE_S
    async with ConfigApiClient.from_settings(settings) as client:
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
    config = FeedConfig(filter=EVERY_CHANGE, queue=FeedQueue(visibility_timeout_s=30))
    async with ConfigApiClient.from_settings(settings) as client:
        await client.set_feed_config(config)
