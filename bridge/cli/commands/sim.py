"""`vtex-bridge sim`: serve the VTEX simulator (OMS, hook/feed config, Feed v3, hook sender).

It listens on `sim_host:sim_port`, prints where, and drives `--orders` seeded orders through their
lifecycles at `--rate` transitions per second as soon as a hook or a feed is configured (or at once
with `--no-wait`). `--hook-url` configures the hook itself at start (retrying the ping until the
receiver answers), which is what the `make run` demo uses. Ctrl-C or SIGTERM stops it cleanly.

`--accounts N` serves N accounts in the one process (the primary plus `{account}-2` ... `{account}-N`,
or `--accounts a,b,c` by name, the first being the primary): each under `/accounts/{name}/` with its
own credentials, orders, rate limit, hook and feed, and each drives its own `--orders` once its hook or
feed is configured. `--hook-url` configures the primary account's hook.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bridge.settings import Settings

if TYPE_CHECKING:
    import asyncio

    from simulator.config import SimConfig
    from simulator.server import SimHandle

#: How long `--hook-url` keeps retrying the configuration while the receiver is not up yet.
HOOK_SETUP_DEADLINE_S = 120.0
HOOK_SETUP_RETRY_S = 1.0
CONFIG_CALL_TIMEOUT_S = 15.0
POLL_S = 0.2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run the VTEX simulator (OMS, hook/feed config, Feed v3, hook sender)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="listen address (default: settings sim_host)")
    parser.add_argument("--port", type=int, help="listen port (default: settings sim_port; 0 = free port)")
    parser.add_argument("--seed", type=int, help="seed of orders, lifecycles and injected faults")
    parser.add_argument("--orders", type=int, help="orders to drive through their lifecycles")
    parser.add_argument("--rate", type=float, help="lifecycle transitions per second (0 = flat out)")
    parser.add_argument("--latency", type=float, help="OMS latency in seconds")
    parser.add_argument("--oms-429-rate", type=float, help="share of OMS requests answered 429")
    parser.add_argument("--oms-5xx-rate", type=float, help="share of OMS requests answered 500/503")
    parser.add_argument("--oms-timeout-rate", type=float, help="share of OMS requests that hang")
    parser.add_argument("--rate-limit", type=int, help="requests per minute per account (0 = unlimited)")
    parser.add_argument("--time-compression", type=float, help="VTEX seconds per real second")
    parser.add_argument("--duplicate-rate", type=float, help="share of accepted hooks sent again")
    parser.add_argument("--reorder-rate", type=float, help="share of hooks delivered after the next one")
    parser.add_argument(
        "--allow-http-hooks",
        action="store_true",
        default=None,
        help="accept plain-http hook URLs on loopback (VTEX itself accepts https only)",
    )
    parser.add_argument(
        "--allow-http-hooks-host",
        action="append",
        default=None,
        metavar="HOST",
        help="also accept plain-http hook URLs on this host name, e.g. the ingress's compose service "
        "(repeatable; every other host stays https-only)",
    )
    parser.add_argument(
        "--hook-url", help="configure the hook to this URL at start (every change, see --hook-filter)"
    )
    parser.add_argument(
        "--hook-header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="header VTEX adds to every notification (repeatable; with --hook-url)",
    )
    parser.add_argument(
        "--hook-filter",
        choices=("workflow", "all"),
        default="all",
        help="with --hook-url: 'all' (default) = FromOrders matching every change, so undocumented and null "
        "states are notified too; 'workflow' = FromWorkflow with every hook status",
    )
    parser.add_argument(
        "--accounts",
        metavar="N|NAME,NAME...",
        help="accounts served under /accounts/{name}/: a count (the primary plus {account}-2 ...) or "
        "names, the first being the primary (default: 1, the primary only)",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="drive orders at once, without waiting for a config"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from simulator.config import SimConfig

    overrides: dict[str, Any] = {
        field: value
        for field, value in (
            ("seed", args.seed),
            ("orders", args.orders),
            ("rate_per_s", args.rate),
            ("oms_latency_s", args.latency),
            ("oms_429_rate", args.oms_429_rate),
            ("oms_5xx_rate", args.oms_5xx_rate),
            ("oms_timeout_rate", args.oms_timeout_rate),
            ("rate_limit_per_minute", args.rate_limit),
            ("time_compression", args.time_compression),
            ("duplicate_rate", args.duplicate_rate),
            ("reorder_rate", args.reorder_rate),
            ("allow_http_hooks", args.allow_http_hooks),
            (
                "allow_http_hook_hosts",
                tuple(args.allow_http_hooks_host) if args.allow_http_hooks_host else None,
            ),
        )
        if value is not None
    }
    try:
        headers = dict(_header(h) for h in args.hook_header)
        config = with_accounts(
            SimConfig.from_settings(settings, **overrides),
            args.accounts or "1",
        )
    except ValueError as exc:
        print(f"vtex-bridge sim: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.sim_host
    port = settings.sim_port if args.port is None else args.port
    hook = None if not args.hook_url else (args.hook_url, headers, args.hook_filter)
    from bridge import process_runtime

    return process_runtime.run(settings, _serve(config, host, port, hook, wait=not args.no_wait))


def with_accounts(config: SimConfig, spec: str) -> SimConfig:
    """Return `config` serving the accounts `spec` names: a count, or names (the first one primary)."""
    from simulator.config import SimAccount

    spec = spec.strip()
    if spec.isdigit():
        return config.with_numbered_accounts(int(spec))
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ValueError(f"--accounts needs a count or account names, got {spec!r}")
    primary = config if names[0] == config.account else config.replace(account=names[0])
    return primary.replace(accounts=tuple(SimAccount.made_up(name) for name in names[1:]))


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--hook-header needs NAME=VALUE, got {text!r}")
    return name.strip(), value


#: (url, headers, filter kind) of the hook to configure at start.
HookSetup = tuple[str, dict[str, str], str]


async def _serve(config: Any, host: str, port: int, hook: HookSetup | None, *, wait: bool) -> int:
    import asyncio
    import contextlib
    import signal

    from simulator.server import run_simulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with run_simulator(config, host, port) as sim:
        print(
            f"vtex-bridge sim listening on {sim.base_url} "
            f"(account {config.account}, appKey {config.app_key}, seed {config.seed}, "
            f"{config.orders} orders at {config.rate_per_s}/s)",
            flush=True,
        )
        drivers = [asyncio.create_task(_drive(sim, hook, wait=wait, stop=stop))]
        for account in config.accounts:
            handle = sim.account(account.name)
            print(
                f"vtex-bridge sim: account {account.name} at {handle.base_url} (appKey {account.app_key})",
                flush=True,
            )
            drivers.append(asyncio.create_task(_drive(handle, None, wait=wait, stop=stop)))
        await stop.wait()
        for driver in drivers:
            driver.cancel()
        for driver in drivers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await driver
    print("vtex-bridge sim stopped", flush=True)
    return 0


async def _drive(sim: SimHandle, hook: HookSetup | None, *, wait: bool, stop: asyncio.Event) -> None:
    import logging

    try:
        await _drive_workload(sim, hook, wait=wait, stop=stop)
    except Exception:  # keep serving (OMS, feed) but say why no orders move
        logging.getLogger(__name__).exception("vtex-bridge sim: driving the workload failed")


async def _drive_workload(sim: SimHandle, hook: HookSetup | None, *, wait: bool, stop: asyncio.Event) -> None:
    import asyncio
    from datetime import UTC, datetime

    if hook is not None and not await _configure_hook(sim, hook, stop):
        return
    if wait:
        while not (sim.state.hooks or sim.state.feeds):
            await asyncio.sleep(POLL_S)
    config = sim.config
    # Timestamps start now unless the configuration pins them (then runs are byte-for-byte repeatable).
    workload = sim.workload(start=None if config.start_time else datetime.now(UTC))
    print(
        f"vtex-bridge sim: account {config.account}: driving {config.orders} orders "
        f"({len(workload)} transitions)",
        flush=True,
    )
    await sim.sender.run(workload)
    print(f"vtex-bridge sim: account {config.account}: workload emitted; still serving", flush=True)


async def _configure_hook(sim: SimHandle, hook: HookSetup, stop: asyncio.Event) -> bool:
    import asyncio

    import aiohttp

    from bridge.statuses import HOOK_FILTER_STATUSES

    url, headers, kind = hook
    every_change = {"type": "FromOrders", "expression": "$exists(orderId)", "disableSingleFire": True}
    workflow = {"type": "FromWorkflow", "status": sorted(HOOK_FILTER_STATUSES)}
    body = {"filter": every_change if kind == "all" else workflow, "hook": {"url": url, "headers": headers}}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HOOK_SETUP_DEADLINE_S
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            async with asyncio.timeout(CONFIG_CALL_TIMEOUT_S):
                async with session.post(
                    f"{sim.base_url}/api/orders/hook/config", json=body, headers=sim.auth_headers()
                ) as resp:
                    text = await resp.text()
                    if resp.status == 200:
                        print(f"vtex-bridge sim: hook configured to {url}", flush=True)
                        return True
            # Only a failed ping is worth retrying (the receiver may still be starting).
            if "Unable to check address" not in text or loop.time() >= deadline:
                print(f"vtex-bridge sim: could not configure the hook: {resp.status} {text}", file=sys.stderr)
                return False
            await asyncio.sleep(HOOK_SETUP_RETRY_S)
    return False
