"""The demo's live view: scrape every service's metrics, Kafka and the simulator, render, repeat.

On a terminal the screen is redrawn in place; otherwise (a log, CI) a plain copy is printed every
few seconds. It also tops up the simulated workload and ends the run when a service dies, printing
that service's last lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Final

import aiohttp

from bridge.cli.dev import scrape
from bridge.cli.dev.dashboard import ErrorTail, Snapshot, render
from bridge.cli.dev.kafka_view import KafkaSnapshot, KafkaView
from bridge.cli.dev.plan import Plan
from bridge.cli.dev.supervisor import Supervisor
from bridge.cli.dev.workload import sim_stats, summed, top_up_workload
from bridge.settings import Settings

PLAIN_PRINT_EVERY_S: Final = 5.0


async def live_view(
    plan: Plan, supervisor: Supervisor, session: aiohttp.ClientSession, stop: asyncio.Event, *, embedded: bool
) -> int:
    """Refresh the view every `dev_refresh_s` until `stop`; return 1 as soon as a service died."""
    settings = plan.settings
    kafka = KafkaView(plan.bootstrap)
    await kafka.start()
    errors = ErrorTail()
    for child in supervisor.children:
        errors.skip_existing(child.name, child.log_path)
    header = (
        "vtex-kafka-bridge — live  "
        + (f"(local Kafka {plan.bootstrap}" if embedded else f"(Kafka {plan.bootstrap}")
        + (" + VTEX simulator)" if plan.with_simulator else f" + VTEX account {settings.vtex_account})")
    )
    endpoints = [
        f"Hook URL   {plan.hook_url}   metrics {plan.ingress_metrics_url}",
        *(
            f"Worker {i}   console {plan.console_url(c)}   metrics http://127.0.0.1:{p}/metrics"
            for i, (p, c) in enumerate(zip(plan.worker_ports, plan.console_ports, strict=True), start=1)
        ),
        *(
            []
            if plan.console_token_generated
            else ["Console    log in with the token in VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN"]
        ),
        *(
            [
                f"Simulator  {plan.sim_url}   stats {plan.sim_url}/_sim/stats",
                *(
                    [f"Accounts   {', '.join(plan.accounts)}   each at {plan.sim_url}/accounts/<name>"]
                    if len(plan.accounts) > 1
                    else []
                ),
                f"Feed v3    poller metrics http://127.0.0.1:{plan.feed_poller_port}/metrics",
            ]
            if plan.with_simulator
            else []
        ),
        f"Logs       {supervisor.log_dir}",
    ]
    tty = sys.stdout.isatty()
    previous: Snapshot | None = None
    last_print = 0.0
    orders_started = 0
    try:
        while not stop.is_set():
            per_account = await sim_stats(session, plan) if plan.with_simulator else {}
            sim = summed(per_account)
            for name, stats in per_account.items():
                if settings.dev_orders == 0 or orders_started < settings.dev_orders:
                    orders_started += await top_up_workload(session, plan, stats, name)
            snap = Snapshot(
                at=time.monotonic(),
                services={"kafka": True, **{c.name: c.running for c in supervisor.children}},
                ingress=await scrape.prometheus(session, plan.ingress_metrics_url),
                feed=(
                    await scrape.prometheus(session, f"http://127.0.0.1:{plan.feed_poller_port}/metrics")
                    if plan.with_simulator
                    else None
                ),
                workers=[
                    await scrape.prometheus(session, f"http://127.0.0.1:{p}/metrics")
                    for p in plan.worker_ports
                ],
                sim=sim,
                kafka=await _kafka_snapshot(kafka, settings),
            )
            snap.services["kafka"] = snap.kafka is not None
            for child in supervisor.children:
                errors.read_new(child.name, child.log_path)
            snap.errors = errors.recent
            screen = render(snap, previous, header, endpoints)
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J" + screen + "\n")
                sys.stdout.flush()
            elif time.monotonic() - last_print >= PLAIN_PRINT_EVERY_S:
                print(screen + "\n", flush=True)
                last_print = time.monotonic()
            previous = snap
            dead = supervisor.failed()
            if dead:
                for child in dead:
                    print(
                        f"\n{child.name} exited with code {child.exit_code}; its last lines:", file=sys.stderr
                    )
                    print("\n".join(child.log_tail(20)), file=sys.stderr)
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.dev_refresh_s)
        return 0
    finally:
        await kafka.stop()


async def _kafka_snapshot(kafka: KafkaView, settings: Settings) -> KafkaSnapshot | None:
    try:
        return await kafka.snapshot(
            (settings.input_topic, settings.status_topic_prefix, settings.dead_letter_topic),
            settings.input_topic,
            settings.worker_app_id,
        )
    except Exception:  # noqa: BLE001 - the view shows Kafka as down and keeps going
        return None
