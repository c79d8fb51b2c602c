"""`hook ensure`'s silence check: has every ingress pod gone too long without a hook of an account?

VTEX deletes a hook after 3 days without notifications (REFERENCE.md section 5), so `ensure` also reads
the ingress's `last hook received` gauge, over every address of the metrics host (behind a headless
Service, one per pod), and warns when no hook arrived for `control_hook_silence_warn_s`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final

from bridge.settings import Settings

#: The ingress gauge holding, per account, the Unix time of the last authenticated hook.
LAST_HOOK_METRIC: Final = "vtex_bridge_ingress_last_hook_received_timestamp_seconds"
METRICS_TIMEOUT_S: Final = 5.0
#: `ensure --fail-on-silence` exits with this when the ingress has been silent too long.
EXIT_SILENT: Final = 9


async def check_ingress_silence(
    args: argparse.Namespace, settings: Settings, accounts: list[str] | None = None
) -> bool:
    """Warn (stderr) for each account the ingress saw no hook of for too long; return True if any.

    `accounts` defaults to the settings' own account; the metrics are read once for all of them."""
    import time

    names = accounts if accounts is not None else [settings.vtex_account]
    url = args.ingress_metrics_url or settings.control_ingress_metrics_url
    url = url or f"http://{settings.ingress_metrics_host}:{settings.ingress_metrics_port}/metrics"
    limit = (
        args.silence_warn_after
        if args.silence_warn_after is not None
        else settings.control_hook_silence_warn_s
    )
    try:
        newest = await newest_hook_times(url)
    except Exception as exc:  # any failure to read metrics is a warning, never a failed ensure
        print(f"warning: cannot read the ingress metrics at {url} ({type(exc).__name__})", file=sys.stderr)
        return False
    silent = False
    for name in names:
        last = newest.get(name)
        if last is None or last <= 0:
            print(
                f"warning: the ingress at {url} has received no hook for account {name} "
                "since it started; check VTEX can reach the hook URL",
                file=sys.stderr,
            )
            silent = True
            continue
        age = time.time() - last
        if age > limit:
            print(
                f"warning: no hook for account {name} for {age / 3600:.1f} h "
                f"(limit {limit / 3600:.1f} h); VTEX deletes a hook after 3 days without notifications",
                file=sys.stderr,
            )
            silent = True
    return silent


async def addresses_of(host: str, port: int | None) -> list[str]:
    """Return every address `host` resolves to (a headless Service: one per pod), in a stable order."""
    import asyncio
    import socket

    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def newest_hook_received(metrics_url: str, account: str) -> float | None:
    """Return the newest last-hook time for `account` over every address of the URL's host."""
    return (await newest_hook_times(metrics_url)).get(account)


async def newest_hook_times(metrics_url: str) -> dict[str, float]:
    """Return, per account, the newest last-hook time over every address of the URL's host.

    Behind a headless Service each address is one ingress pod, and each pod only knows the hooks it
    received itself: one pod picked by a load-balanced Service may be fresh and have seen none. Pods
    that cannot be read are passed over; when none can, the first failure is raised.
    """
    import asyncio

    from yarl import URL

    url = URL(metrics_url)
    if url.host is None:
        raise ValueError(f"no host in {metrics_url}")
    addresses = await addresses_of(url.host, url.port)
    answers = await asyncio.gather(
        *(last_hook_times(str(url.with_host(address))) for address in addresses),
        return_exceptions=True,
    )
    failures = [a for a in answers if isinstance(a, BaseException)]
    if failures and len(failures) == len(answers):
        raise failures[0]
    newest: dict[str, float] = {}
    for answer in answers:
        if isinstance(answer, dict):
            for account, seen in answer.items():
                newest[account] = max(seen, newest.get(account, seen))
    return newest


async def last_hook_received(metrics_url: str, account: str) -> float | None:
    """Return the ingress gauge's Unix time of the last hook for `account`, None when absent."""
    return (await last_hook_times(metrics_url)).get(account)


async def last_hook_times(metrics_url: str) -> dict[str, float]:
    """Return the ingress gauge's Unix time of the last hook, per account (one read of `/metrics`)."""
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=METRICS_TIMEOUT_S)) as session,
        session.get(metrics_url) as response,
    ):
        if response.status != 200:
            raise ValueError(f"metrics endpoint answered {response.status}")
        text = await response.text()
    times: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == LAST_HOOK_METRIC and "account" in sample.labels:
                times[sample.labels["account"]] = float(sample.value)
    return times
