"""Feed poller pace benchmark: how fast a Feed v3 backlog drains into Kafka, adaptive pace vs the old one.

A simulator (in this process, VTEX's 6,000/min per-account limit on) holds a backlog of feed events;
a `FeedPoller` moves it to a topic on a real broker. Two phases, same code, two configurations:

* **fixed** — the former pace: one lot of 10 at a time, 5 requests/s (read + commit per lot);
* **adaptive** — the defaults: up to `feed_poll_max_concurrency` lots in flight while lots come back
  full, within the `feed_poll_rate_per_s` budget.

Prints progress and a final JSON line: items/s of each phase, their `ratio`, the most lots in flight,
and the machine. Loopback only, bounded in items and time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import emit, kafka_broker, machine_description, progress
from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.metrics import PollerMetrics
from bridge.feed_poller.poller import FeedPoller
from bridge.kafka_producer import ProducerConfig, ResilientProducer
from bridge.settings import load_settings
from bridge.statuses import KNOWN_STATUSES
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import FeedConfig, FeedQueue, WorkflowFilter
from simulator.config import SimConfig
from simulator.server import SimHandle, run_simulator
from simulator.workload import generate_workload

FIXED_ITEMS = 400
ADAPTIVE_ITEMS = 2000
PHASE_TIMEOUT_S = 300.0


async def fill(sim: SimHandle, items: int, seed: int) -> int:
    """Drive new orders until the feed holds at least `items` events; return the depth."""
    orders = items // 9 + 1
    workload = generate_workload(seed, orders)
    for transition in workload.transitions():
        sim.emit(transition)
    return sim.state.feed_depth()[sim.config.app_key]


async def drain(sim: SimHandle, bootstrap: str, topic: str, config: PollerConfig) -> tuple[float, int]:
    """Run a poller until the feed is empty; return (seconds, most lots in flight)."""
    client = ConfigApiClient(
        base_url=sim.base_url, app_key=sim.config.app_key, app_token=sim.config.app_token, timeout_s=10.0
    )
    producer = ResilientProducer(ProducerConfig(bootstrap_servers=bootstrap))
    await producer.start(require_connection=True)
    stop = asyncio.Event()
    try:
        async with client:
            poller = FeedPoller(client, producer, config, PollerMetrics())
            started = time.monotonic()
            task = asyncio.create_task(poller.run(stop))
            while sim.state.feed_depth()[sim.config.app_key] and not task.done():
                if time.monotonic() - started > PHASE_TIMEOUT_S:
                    raise RuntimeError("the feed did not drain in time")
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
            stop.set()
            await asyncio.wait_for(task, 30)
            return elapsed, poller.max_lanes_used
    finally:
        stop.set()
        await producer.stop()


async def run(fixed_items: int, adaptive_items: int) -> dict[str, Any]:
    defaults = load_settings(kafka_embedded=False)
    with kafka_broker() as bootstrap:
        async with run_simulator(SimConfig(seed=11)) as sim:
            async with ConfigApiClient(
                base_url=sim.base_url,
                app_key=sim.config.app_key,
                app_token=sim.config.app_token,
                timeout_s=10.0,
            ) as client:
                await client.set_feed_config(
                    FeedConfig(WorkflowFilter(KNOWN_STATUSES), FeedQueue(240, 345600))
                )
            base: dict[str, Any] = {
                "input_topic": f"bench-feed-pace-{int(time.time())}",
                "dead_letter_topic": f"bench-feed-pace-dlq-{int(time.time())}",
                "account": sim.config.account,
                "app_key": sim.config.app_key,
            }
            phases: dict[str, Any] = {}
            for name, items, config in (
                ("fixed", fixed_items, PollerConfig(**base, rate_per_s=5.0, max_concurrency=1)),
                (
                    "adaptive",
                    adaptive_items,
                    PollerConfig(
                        **base,
                        rate_per_s=defaults.feed_poll_rate_per_s,
                        max_concurrency=defaults.feed_poll_max_concurrency,
                    ),
                ),
            ):
                depth = await fill(sim, items, seed=100 + len(phases))
                progress(f"{name}: draining a backlog of {depth} items")
                seconds, lanes = await drain(sim, bootstrap, base["input_topic"], config)
                phases[name] = {
                    "items": depth,
                    "seconds": round(seconds, 2),
                    "items_per_s": round(depth / seconds, 1),
                    "rate_per_s": config.rate_per_s,
                    "max_concurrency": config.max_concurrency,
                    "most_lots_in_flight": lanes,
                }
                progress(f"{name}: {phases[name]}")
    fixed, adaptive = phases["fixed"]["items_per_s"], phases["adaptive"]["items_per_s"]
    return {
        "benchmark": "feed_pace",
        **phases,
        "ratio": round(adaptive / fixed, 2) if fixed else None,
        "machine": machine_description(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--fixed-items", type=int, default=FIXED_ITEMS)
    parser.add_argument("--adaptive-items", type=int, default=ADAPTIVE_ITEMS)
    args = parser.parse_args(argv)
    emit(asyncio.run(run(args.fixed_items, args.adaptive_items)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
