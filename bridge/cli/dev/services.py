"""Starting the demo's services in order and configuring the hook and feed they are fed by.

Each service is waited for (its readiness endpoint answers 200) before the next one starts, and a
service that exits while starting stops the run with its log tail, so a broken setup says what broke
instead of showing an empty live view.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

import aiohttp

from bridge.cli.dev.plan import DevError, Plan, children_settings
from bridge.cli.dev.supervisor import Supervisor

READY_TIMEOUT_S: Final = 90.0


async def _wait_http(
    session: aiohttp.ClientSession, name: str, url: str, supervisor: Supervisor, stop: asyncio.Event
) -> None:
    """Return once `url` answers 200; raise `DevError` when a service died or the bound passed."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not stop.is_set():
        for child in supervisor.failed():
            raise DevError(
                f"{child.name} exited with code {child.exit_code}:\n" + "\n".join(child.log_tail(15))
            )
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with asyncio.timeout(2), session.get(url) as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise DevError(f"{name} did not become ready at {url} within {READY_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.25)


async def start_services(
    plan: Plan, supervisor: Supervisor, session: aiohttp.ClientSession, stop: asyncio.Event
) -> None:
    """Start the simulator (if any), the workers and the ingress, each ready before the next."""
    if plan.with_simulator:
        print(f"Starting the VTEX simulator on {plan.sim_url}…")
        # A little at-least-once realism, so the view shows de-duplication and late events at work.
        supervisor.spawn(
            "sim", "sim", "--allow-http-hooks", "--orders", "0", "--no-wait",
            "--duplicate-rate", "0.05", "--reorder-rate", "0.03", "--accounts", str(len(plan.accounts)),
        )  # fmt: skip
        await _wait_http(session, "the simulator", f"{plan.sim_url}/_sim/stats", supervisor, stop)
    for i, (port, console) in enumerate(zip(plan.worker_ports, plan.console_ports, strict=True), start=1):
        print(f"Starting worker {i} (metrics on :{port}, console on :{console})…")
        env = {
            "VTEX_BRIDGE_WORKER_WEB_PORT": str(port),
            "VTEX_BRIDGE_CONSOLE_PORT": str(console),
            "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": plan.console_token,
        }
        supervisor.spawn(f"worker-{i}", "worker", env=env)
    for i, port in enumerate(plan.worker_ports, start=1):
        await _wait_http(session, f"worker {i}", f"http://127.0.0.1:{port}/ready", supervisor, stop)
    print(f"Starting the ingress on {plan.ingress_url}…")
    supervisor.spawn("ingress", "ingress")
    await _wait_http(session, "the ingress", f"{plan.ingress_url}/readyz", supervisor, stop)


async def configure_simulator_hook(plan: Plan) -> None:
    """Register the ingress as each simulated account's hook, the way `vtex-bridge hook set` does."""
    from bridge.accounts import AccountRegistry
    from bridge.cli.dev.hook import configure_account_hook, configure_every_change_hook

    settings = children_settings(plan)
    if len(plan.accounts) == 1:
        await configure_every_change_hook(settings, plan.hook_url, allow_http=True)
        return
    for account in AccountRegistry.from_settings(settings):
        await configure_account_hook(settings, account, plan.hook_url, allow_http=True)


async def start_feed_poller(
    plan: Plan, supervisor: Supervisor, session: aiohttp.ClientSession, stop: asyncio.Event
) -> None:
    """Configure the simulator's feed and run the backup poller beside the hook."""
    from bridge.accounts import AccountRegistry
    from bridge.cli.dev.hook import configure_account_feed, configure_demo_feed

    settings = children_settings(plan)
    if len(plan.accounts) == 1:
        await configure_demo_feed(settings)
    else:
        for account in AccountRegistry.from_settings(settings):
            await configure_account_feed(settings, account)
    print(f"Starting the Feed v3 poller (metrics on :{plan.feed_poller_port})…")
    supervisor.spawn("feed-poller", "feed", "poll")
    await _wait_http(
        session, "the feed poller", f"http://127.0.0.1:{plan.feed_poller_port}/healthz", supervisor, stop
    )


async def ensure_real_hook(plan: Plan) -> None:
    """Ensure the real account's hook points at `dev_public_hook_url` (where VTEX reaches the ingress)."""
    from bridge.cli.dev.hook import configure_every_change_hook

    await configure_every_change_hook(plan.settings, plan.settings.dev_public_hook_url, allow_http=False)
