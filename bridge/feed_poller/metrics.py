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
        self.lanes = Gauge(
            f"{prefix}_lots_in_flight_target",
            "Feed v3 lots the poller keeps in flight now (grows while lots come back full).",
            registry=self.registry,
        )
        self.backlog_items = Gauge(
            f"{prefix}_backlog_items",
            "Messages in the Feed v3 queue (in flight or not), as VTEX last reported them.",
            registry=self.registry,
        )
        self.backlog_age_seconds = Gauge(
            f"{prefix}_backlog_age_seconds",
            "Age of the oldest message in the Feed v3 queue, as VTEX last reported it.",
            registry=self.registry,
        )
        self.lanes.set(1)
