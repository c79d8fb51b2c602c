"""Prometheus metrics of one processor instance, on its own `CollectorRegistry`.

A per-app registry (not the global one) lets tests and benchmarks build several processors in one
process. Gauges that describe live state (in-flight, lanes, state size, lag) are computed at scrape time
from callables the runtime registers, so they are never stale.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

OUTCOMES = ("emitted", "duplicate", "dead_lettered", "invalid")


class ProcessorMetrics:
    """Every metric the processor exports; also the OMS client's observer."""

    def __init__(self, rate_limit_per_s: float, default_account: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "vtex_bridge_processor_events_total", "Input events by outcome", ["outcome"], registry=r
        )
        self.late = Counter(
            "vtex_bridge_processor_late_events_total", "Events emitted flagged late", registry=r
        )
        self.records_written = Counter(
            "vtex_bridge_processor_records_written_total",
            "Records committed to downstream and dead-letter topics, by topic (Kafka offsets overcount them:"
            " every transaction's commit marker takes an offset too)",
            ["topic"],
            registry=r,
        )
        self.unknown_route = Counter(
            "vtex_bridge_processor_unknown_route_total", "Events routed to the unknown topic", registry=r
        )
        self.parked_expired = Counter(
            "vtex_bridge_processor_parked_expired_total",
            "Parked events the input topic no longer held when their account had room again (its retention"
            " deleted them while they were parked): given up, by account",
            ["account"],
            registry=r,
        )
        self.dead_letters = Counter(
            "vtex_bridge_processor_dead_letters_total",
            "Events dead-lettered, by reason",
            ["reason"],
            registry=r,
        )
        self.oms_requests = Counter(
            "vtex_bridge_oms_requests_total",
            "OMS Get-order attempts by VTEX account and HTTP status (429: throttled)",
            ["account", "status"],
            registry=r,
        )
        self.oms_latency = Histogram(
            "vtex_bridge_oms_request_seconds",
            "OMS Get-order latency",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.oms_throttle_wait = Counter(
            "vtex_bridge_oms_throttle_wait_seconds_total",
            "Time held by 429 Retry-After cool-downs, by VTEX account",
            ["account"],
            registry=r,
        )
        self.account_events = Counter(
            "vtex_bridge_processor_account_events_total",
            "Input events by VTEX account (a configured one, else `_unknown`) and outcome",
            ["account", "outcome"],
            registry=r,
        )
        self.oms_fetches = Counter(
            "vtex_bridge_processor_order_fetches_total",
            "Orders fetched (one serves a whole per-order batch)",
            registry=r,
        )
        self.retries = Counter(
            "vtex_bridge_processor_retries_total", "Processing retries by cause", ["cause"], registry=r
        )
        self.txn_seconds = Histogram(
            "vtex_bridge_processor_commit_seconds",
            "Transactional commit latency (downstream + state)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )
        self.e2e_seconds = Histogram(
            "vtex_bridge_processor_end_to_end_seconds",
            "From ingress receipt (received_at) to downstream commit",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0),
            registry=r,
        )
        self.halted = Gauge(
            "vtex_bridge_processor_halted",
            "1 while OMS refuses our credentials for an account (its events wait; consumption stops when"
            " every account is refused)",
            registry=r,
        )
        self.account_halted = Gauge(
            "vtex_bridge_processor_account_halted",
            "1 while OMS refuses our credentials for this VTEX account",
            ["account"],
            registry=r,
        )
        #: account -> its current per-second budget; one entry (`default_account`) until `bind_budget`.
        self._rates: dict[str, Callable[[], float]] = {default_account: lambda: max(rate_limit_per_s, 0.001)}
        self._recent_calls: dict[str, deque[float]] = {}
        self._budget = _AccountBudgets(self)
        r.register(self._budget)
        self.in_flight = Gauge(
            "vtex_bridge_processor_in_flight_events", "Events read and not done", registry=r
        )
        self.lanes = Gauge("vtex_bridge_processor_active_lanes", "Orders with events in flight", registry=r)
        self.state_keys = Gauge(
            "vtex_bridge_processor_state_keys", "Orders held in the de-dup table", registry=r
        )
        self.lag = Gauge(
            "vtex_bridge_processor_consumer_lag",
            "Sum over assigned partitions of end - committed",
            registry=r,
        )
        self.work_lag = Gauge(
            "vtex_bridge_processor_work_lag",
            "Events of the assigned input partitions more workers could share: not read yet, plus read and"
            " in flight; without parked events and finished ones held behind an unfinished one (the"
            " autoscaling signal)",
            registry=r,
        )
        self._partition_lag = _PartitionLag()
        r.register(self._partition_lag)
        self._oldest_unfinished = _PartitionGauge(
            "vtex_bridge_processor_oldest_unfinished_seconds",
            "Input partition assigned to this worker: age of its oldest event read and not finished (it holds"
            " the partition's committed offset back)",
        )
        r.register(self._oldest_unfinished)
        self._account_in_flight = _AccountGauge(
            "vtex_bridge_processor_account_in_flight_events",
            "Events read and not done, by VTEX account (a configured one, else `_unknown`)",
        )
        r.register(self._account_in_flight)
        self._account_oldest = _AccountGauge(
            "vtex_bridge_processor_account_oldest_in_flight_seconds",
            "Age (since the ingress received it) of the oldest event in flight, by VTEX account: how far"
            " behind an account whose OMS is slow or down is (0 when none is in flight)",
        )
        r.register(self._account_oldest)
        self._account_parked = _AccountGauge(
            "vtex_bridge_processor_account_parked_events",
            "Events set aside by input offset because their VTEX account holds its bound of events in flight"
            " (worker_max_pending_events_per_account); read again from the input topic once it has room",
        )
        r.register(self._account_parked)
        self.in_flight_orders_limit = Gauge(
            "vtex_bridge_processor_in_flight_orders_limit",
            "Orders enriched at once at most (worker_max_in_flight_orders); active_lanes / this = saturation",
            registry=r,
        )

    def bind(
        self,
        *,
        in_flight: Callable[[], float],
        lanes: Callable[[], float],
        state_keys: Callable[[], float],
        lag: Callable[[], float],
        work_lag: Callable[[], float],
    ) -> None:
        self.in_flight.set_function(in_flight)
        self.lanes.set_function(lanes)
        self.state_keys.set_function(state_keys)
        self.lag.set_function(lag)
        self.work_lag.set_function(work_lag)

    def bind_scaling(
        self, *, partition_lag: Callable[[], Mapping[int, float]], in_flight_orders_limit: int
    ) -> None:
        """Export the autoscaling signals: lag per assigned partition, and the in-flight cap."""
        self._partition_lag.source = partition_lag
        self.in_flight_orders_limit.set(in_flight_orders_limit)

    def bind_account_in_flight(
        self,
        source: Callable[[], Mapping[str, float]],
        oldest: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        """Export the events in flight, and the age of the oldest, per account (read at scrape time)."""
        self._account_in_flight.source = source
        if oldest is not None:
            self._account_oldest.source = oldest

    def bind_account_parked(self, source: Callable[[], Mapping[str, float]]) -> None:
        """Export the parked events per account (`processors.parked`, read at scrape time)."""
        self._account_parked.source = source

    def bind_unfinished(self, oldest_age: Callable[[], Mapping[int, float]]) -> None:
        """Export the age of each partition's oldest unfinished event (`processors.ordered_acks`)."""
        self._oldest_unfinished.source = oldest_age

    # OmsObserver (of the first account; `oms_observer(account)` for each account's client)
    def on_oms_response(self, status: str, latency_s: float) -> None:
        self.oms_observer(next(iter(self._rates))).on_oms_response(status, latency_s)

    def on_oms_throttle_wait(self, seconds: float) -> None:
        self.oms_observer(next(iter(self._rates))).on_oms_throttle_wait(seconds)

    def oms_observer(self, account: str) -> AccountObserver:
        """Return the observer of one account's OMS client (its series carry `account`)."""
        return AccountObserver(self, account)

    def _called(self, account: str) -> None:
        now = time.monotonic()
        calls = self._recent_calls.setdefault(account, deque())
        calls.append(now)
        _trim(calls, now)

    def budget_use(self, account: str) -> float:
        """OMS calls of `account` in the last second / its per-second budget now."""
        calls = self._recent_calls.get(account, deque())
        _trim(calls, time.monotonic())
        rate = self._rates.get(account)
        return len(calls) / max(rate() if rate is not None else 0.0, 0.001)

    def bind_budget(self, rates: Mapping[str, Callable[[], float]]) -> None:
        """Measure budget use against each account's current share (`bridge.vtex.budget`)."""
        self._rates = dict(rates)

    def budget_rates(self) -> dict[str, float]:
        return {account: rate() for account, rate in self._rates.items()}

    def render(self) -> bytes:
        return generate_latest(self.registry)


class AccountObserver:
    """`OmsObserver` of one account's client: counts its attempts, statuses and cool-downs."""

    __slots__ = ("_account", "_latency", "_metrics", "_requests", "_throttle")

    def __init__(self, metrics: ProcessorMetrics, account: str) -> None:
        self._metrics = metrics
        self._account = account
        self._requests: dict[str, Counter] = {}
        self._latency = metrics.oms_latency
        self._throttle = metrics.oms_throttle_wait.labels(account)

    def on_oms_response(self, status: str, latency_s: float) -> None:
        child = self._requests.get(status)
        if child is None:
            child = self._requests[status] = self._metrics.oms_requests.labels(self._account, status)
        child.inc()
        self._latency.observe(latency_s)
        self._metrics._called(self._account)

    def on_oms_throttle_wait(self, seconds: float) -> None:
        self._throttle.inc(seconds)


def _trim(calls: deque[float], now: float) -> None:
    while calls and now - calls[0] > 1.0:
        calls.popleft()


class _AccountBudgets(Collector):
    """`vtex_bridge_oms_budget_limit_per_s{account}` and `..._budget_utilisation{account}` at scrape."""

    def __init__(self, metrics: ProcessorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        limit = GaugeMetricFamily(
            "vtex_bridge_oms_budget_limit_per_s",
            "OMS calls per second this worker may make now for a VTEX account: its share of the account's"
            " budget (partitions owned / all), cut after 429s",
            labels=["account"],
        )
        use = GaugeMetricFamily(
            "vtex_bridge_oms_budget_utilisation",
            "OMS calls of a VTEX account in the last second / its per-second budget here",
            labels=["account"],
        )
        for account, rate in sorted(self._metrics.budget_rates().items()):
            limit.add_metric([account], rate)
            use.add_metric([account], self._metrics.budget_use(account))
        yield limit
        yield use


class _AccountGauge(Collector):
    """A gauge per VTEX account, read from `source` at scrape time (bounded by the registry)."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.source: Callable[[], Mapping[str, float]] = dict

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=["account"])
        for account, value in sorted(self.source().items()):
            family.add_metric([account], value)
        yield family


class _PartitionGauge(Collector):
    """A gauge per assigned input partition, read from `source` at scrape time (revoked ones vanish)."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.source: Callable[[], Mapping[int, float]] = dict

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=["partition"])
        for partition, value in sorted(self.source().items()):
            family.add_metric([str(partition)], value)
        yield family


class _PartitionLag(Collector):
    """`vtex_bridge_processor_partition_lag{partition}`: end - committed of each assigned input partition.

    A collector rather than a labelled Gauge so that a partition revoked from this worker disappears
    from its series at the next scrape instead of lingering with its last value.
    """

    def __init__(self) -> None:
        self.source: Callable[[], Mapping[int, float]] = dict

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "vtex_bridge_processor_partition_lag",
            "Input partition assigned to this worker: end - committed offset",
            labels=["partition"],
        )
        for partition, lag in sorted(self.source().items()):
            family.add_metric([str(partition)], lag)
        yield family
