"""Prometheus metrics of one feed poller, in its own `CollectorRegistry` (several pollers per process in
tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class PollerMetrics:
    """Counters and gauges of the feed poller."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        prefix = "vtex_bridge_feed_poller"
        self.items_read = Counter(f"{prefix}_items_read", "Feed v3 items read.", registry=self.registry)
        self.records_produced = Counter(
            f"{prefix}_records_produced", "Input records acknowledged by Kafka.", registry=self.registry
        )
        self.items_committed = Counter(
            f"{prefix}_items_committed", "Feed v3 handles committed.", registry=self.registry
        )
        self.items_dead_lettered = Counter(
            f"{prefix}_items_dead_lettered", "Unusable feed items sent to the dead-letter topic.",
            registry=self.registry,
        )  # fmt: skip
        errors = Counter(f"{prefix}_errors", "Failed polls by cause.", ["cause"], registry=self.registry)
        self.errors = errors
        self.backoff_seconds = Counter(
            f"{prefix}_backoff_seconds", "Seconds spent backing off after failures.", registry=self.registry
        )
        self.last_success = Gauge(
            f"{prefix}_last_success_timestamp_seconds",
            "Unix time of the last successful Feed v3 read.",
            registry=self.registry,
        )
        self.last_batch_size = Gauge(
            f"{prefix}_last_batch_size", "Items in the last Feed v3 read.", registry=self.registry
        )
