"""Prometheus view of a running simulator (`GET /metrics`), read from its state at scrape time.

A collector on a per-app `CollectorRegistry` (never the global one) turns the sender's records and the
OMS counters into metric families when scraped, so nothing has to be updated on the hot paths twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from simulator.context import SIMULATOR, Simulator

PREFIX = "vtex_sim"


class SimCollector(Collector):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def collect(self) -> Iterator[Metric]:
        stats = self.sim.sender.stats()
        deliveries = CounterMetricFamily(
            f"{PREFIX}_hook_deliveries", "Hook notifications by outcome.", labels=["outcome"]
        )
        for outcome in ("accepted", "dropped", "pending"):
            deliveries.add_metric([outcome], stats[outcome])
        yield deliveries
        yield CounterMetricFamily(f"{PREFIX}_hook_attempts", "Hook POST attempts.", value=stats["sent"])
        yield CounterMetricFamily(f"{PREFIX}_hook_retries", "Hook POST retries.", value=stats["retried"])
        yield CounterMetricFamily(
            f"{PREFIX}_hook_duplicates", "Hook notifications re-sent on purpose.", value=stats["duplicates"]
        )
        oms = CounterMetricFamily(f"{PREFIX}_counter", "Simulator event counters.", labels=["name"])
        for name, value in sorted(self.sim.counters.items()):
            oms.add_metric([name], value)
        yield oms
        yield GaugeMetricFamily(
            f"{PREFIX}_orders", "Orders the simulator holds.", value=len(self.sim.state.orders)
        )
        depth = GaugeMetricFamily(
            f"{PREFIX}_feed_depth", "Messages in each Feed v3 queue.", labels=["app_key"]
        )
        for app_key, quantity in self.sim.state.feed_depth().items():
            depth.add_metric([app_key], quantity)
        yield depth


def build_registry(sim: Simulator) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SimCollector(sim))
    return registry


METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


async def handle_metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS_REGISTRY]
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def install(app: web.Application) -> None:
    """Add `GET /metrics` to a simulator app."""
    app[METRICS_REGISTRY] = build_registry(app[SIMULATOR])
    app.router.add_get("/metrics", handle_metrics)
