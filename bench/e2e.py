"""End-to-end benchmark: simulator hook sender → ingress → Kafka → worker → simulator OMS → status topics.

Every service is its real `vtex-bridge` process (the chaos harness starts them), on a local broker.
Two phases, one workload size:

* **baseline** — the simulator's hook sender against a receiver that only answers 200 (no Kafka, no
  processing): how fast "VTEX" can deliver on this machine, the ceiling of any bridge;
* **bridge** — the same sender against the real ingress, until every accepted event is on a status
  topic, checked by the chaos checker (lost / duplicated / out-of-order / unexpected must be zero).

It prints progress and a final JSON line: `events_per_s` (accepted events that reached a status topic
per second of the whole run), `baseline_hooks_per_s`, their `ratio`, end-to-end latency percentiles
(ingress receipt → downstream record written), and the checker's counts. Loopback only, bounded in
orders and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from bench.common import emit, kafka_broker, machine_description, percentile, progress
from testkit.harness import Bridge, BridgeOptions
from testkit.kafka import read_all, wait_until

DEFAULT_ORDERS = 300
OMS_LATENCY_S = 0.02
PHASE_TIMEOUT_S = 300.0


@contextlib.asynccontextmanager
async def ok_receiver() -> AsyncIterator[str]:
    """Serve a hook URL that answers 200 to everything (the baseline's receiver)."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/hooks/vtex", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}/hooks/vtex"
    finally:
        await runner.cleanup()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def baseline(bridge: Bridge, orders: int) -> float:
    """Return hooks/s the simulator delivers to a 200-only receiver (same simulator, new seed)."""
    from bridge.cli.dev.hook import EVERY_CHANGE
    from bridge.settings import load_settings
    from bridge.vtex.config_api import ConfigApiClient
    from bridge.vtex.config_models import HookConfig

    async with ok_receiver() as url:
        settings = load_settings(vtex_base_url=bridge.sim_url, kafka_embedded=False)
        async with ConfigApiClient.from_settings(settings) as client:
            await client.set_hook_config(HookConfig(filter=EVERY_CHANGE, url=url, headers={}))
        before = (await bridge.vtex.sender())["accepted"]
        started = time.monotonic()
        workload = await bridge.vtex.start_workload(orders, seed=bridge.options.seed + 1, rate_per_s=0)
        target = before + workload.transitions

        async def done() -> bool:
            return (await bridge.vtex.sender())["accepted"] >= target

        await wait_until(done, timeout=PHASE_TIMEOUT_S, interval=0.05, message="baseline delivered")
        return (target - before) / (time.monotonic() - started)


async def run(orders: int) -> dict[str, Any]:
    with kafka_broker() as bootstrap, tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        options = BridgeOptions(seed=21, time_compression=10.0)
        progress("starting simulator, worker and ingress")
        bridge = await Bridge.create(bootstrap, Path(tmp), options)
        try:
            await bridge.vtex.controls(oms_latency_s=OMS_LATENCY_S)
            progress(f"bridge phase: {orders} orders, as fast as the simulator sends")
            started = time.monotonic()
            await bridge.start_workload(orders, rate_per_s=0)
            result = await bridge.check("bench-e2e")
            elapsed = time.monotonic() - started
            progress(f"bridge phase done in {elapsed:.1f}s: {result.to_json()}")
            records = await read_all(bootstrap, f"{bridge.status_prefix}all", timeout=60)
            records += await read_all(bootstrap, f"{bridge.status_prefix}unknown", timeout=10)
            latencies = [r.timestamp / 1000.0 - _epoch(orjson.loads(r.value)["received_at"]) for r in records]
            progress("baseline phase: the same sender against a 200-only receiver")
            ceiling = await baseline(bridge, orders)
        finally:
            await bridge.stop()
    events_per_s = result.delivered / elapsed if elapsed else 0.0
    latencies_ms = [max(0.0, x) * 1000.0 for x in latencies]
    return {
        "benchmark": "e2e",
        "orders": orders,
        "oms_latency_ms": OMS_LATENCY_S * 1000,
        "events": result.delivered,
        "seconds": round(elapsed, 2),
        "events_per_s": round(events_per_s, 1),
        "baseline_hooks_per_s": round(ceiling, 1),
        "ratio": round(events_per_s / ceiling, 3) if ceiling else None,
        "e2e_p50_ms": round(percentile(latencies_ms, 50), 1),
        "e2e_p99_ms": round(percentile(latencies_ms, 99), 1),
        "lost": result.lost,
        "duplicated": result.duplicated,
        "out_of_order": result.out_of_order,
        "unexpected": result.unexpected,
        "machine": machine_description(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.orders))
    emit(result)
    return 0 if result["lost"] == result["duplicated"] == result["out_of_order"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
