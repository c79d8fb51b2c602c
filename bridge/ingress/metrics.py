"""Prometheus metrics of one ingress app, in the app's own `CollectorRegistry`.

A registry per app (not prometheus_client's global one) lets tests and the benchmark build several apps
in one process. Label children are bound once here so the hot path only increments.

With `vtex-bridge ingress --workers N` (N > 1) every worker process writes its values to files
(prometheus_client's multiprocess mode, bridge.ingress.workers) and the parent serves their aggregate:
counters and histograms are summed, and each gauge says how its values combine (`multiprocess_mode`):
hooks in flight and producer rebuilds are summed over the live workers, "producer connected" is their
minimum (0 as soon as one worker has no producer), the last-hook time is the newest.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bridge.ingress.auth import AUTH_FAILURE_REASONS
from bridge.kafka_producer import ProducerStats

#: Every outcome a hook request can have (the `outcome` label of requests_total).
OUTCOMES: Final = (
    "accepted",
    "ping",
    "ping_unauthenticated",
    "unauthorized",
    "invalid_json",
    "schema_violation",
    "payload_too_large",
    "unsupported_media_type",
    "request_timeout",
    "overloaded",
    "unauthenticated_overloaded",
    "kafka_unavailable",
    "kafka_timeout",
    "kafka_failed",
)
#: Produce latency buckets: 1 ms to the 4 s answer bound.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0)


class IngressMetrics:
    """Counters, gauges and histograms of the ingress."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        prefix = "vtex_bridge_ingress"
        requests = Counter(
            f"{prefix}_requests", "Hook requests by outcome.", ["outcome"], registry=self.registry
        )
        self.outcome = {name: requests.labels(outcome=name) for name in OUTCOMES}
        failures = Counter(
            f"{prefix}_auth_failures", "Rejected hook authentications by reason.", ["reason"],
            registry=self.registry,
        )  # fmt: skip
        self.auth_failure = {reason: failures.labels(reason=reason) for reason in AUTH_FAILURE_REASONS}
        self.produce_latency = Histogram(
            f"{prefix}_produce_latency_seconds",
            "Time from handing a record to the producer to the broker's acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{prefix}_in_flight", "Hook requests being handled now.", registry=self.registry,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.last_hook = Gauge(
            f"{prefix}_last_hook_received_timestamp_seconds",
            "Unix time of the last authenticated hook per account (VTEX deletes a hook idle for 3 days).",
            ["account"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.producer_connected = Gauge(
            f"{prefix}_kafka_producer_connected",
            "1 when a Kafka producer is connected (with several workers: in every one of them).",
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.producer_recreations = Gauge(
            f"{prefix}_kafka_producer_recreations",
            "Times the Kafka producer was found wedged and rebuilt since start.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.worker_accepted = Gauge(
            f"{prefix}_worker_accepted",
            "Hooks accepted by this ingress process since it started (with several workers: one series per "
            "worker, label pid; shows how evenly the kernel spreads connections over them).",
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self._last_hook_children: dict[str, Gauge] = {}
        self._last_hook_second: dict[str, int] = {}
        #: Labelled by configured accounts only (authenticated hooks), so bounded by the registry.
        self._account_hooks = Counter(
            f"{prefix}_account_hooks",
            "Hooks accepted (acknowledged by Kafka) by VTEX account.",
            ["account"],
            registry=self.registry,
        )
        self._account_hook_children: dict[str, Counter] = {}

    def refresh(self, stats: ProducerStats, accepted: int, in_flight: int | None = None) -> None:
        """Set the sampled gauges: at scrape time with one process, every second in a worker of several.

        `in_flight` is for a worker of several only: a single process reads it live (`set_function`),
        which the files of the multiprocess mode cannot carry.
        """
        self.producer_connected.set(1 if stats.connected else 0)
        self.producer_recreations.set(stats.recreations)
        self.worker_accepted.set(accepted)
        if in_flight is not None:
            self.in_flight.set(in_flight)

    def mark_hook(self, account: str, now: float) -> None:
        """Record an authenticated hook of `account` at `now`: the gauge is written once per second at most
        (its consumer alerts after days of silence; a write is a lock, and a file write with workers)."""
        second = int(now)
        if self._last_hook_second.get(account) != second:
            self._last_hook_second[account] = second
            self.last_hook_of(account).set(now)

    def accepted_of(self, account: str) -> Counter:
        """Return the accepted-hooks counter of `account` (children cached, like `last_hook_of`)."""
        child = self._account_hook_children.get(account)
        if child is None:
            child = self._account_hook_children[account] = self._account_hooks.labels(account=account)
        return child

    def last_hook_of(self, account: str) -> Gauge:
        """Return the last-hook gauge of `account` (children cached: `labels()` costs a lock and a lookup)."""
        child = self._last_hook_children.get(account)
        if child is None:
            child = self._last_hook_children[account] = self.last_hook.labels(account=account)
        return child
