"""Prometheus metrics of the feed poller, labelled by account, in their own `CollectorRegistry`.

One poller process polls every configured account's feed, so every series carries `account` (bounded
by the account registry: one series set per configured account). `PollerMetrics` holds the families;
`PollerMetrics.account(name)` is the view one account's poll loop updates. Several pollers per process
(tests) each get their own registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

PREFIX = "vtex_bridge_feed_poller"


class PollerMetrics:
    """The metric families of the feed poller (every one labelled by `account`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry, labels = self.registry, ["account"]
        self.items_read = Counter(f"{PREFIX}_items_read", "Feed v3 items read.", labels, registry=registry)
        self.records_produced = Counter(
            f"{PREFIX}_records_produced", "Input records acknowledged by Kafka.", labels, registry=registry
        )
        self.items_committed = Counter(
            f"{PREFIX}_items_committed", "Feed v3 handles committed.", labels, registry=registry
        )
        self.items_dead_lettered = Counter(
            f"{PREFIX}_items_dead_lettered", "Unusable feed items sent to the dead-letter topic.", labels,
            registry=registry,
        )  # fmt: skip
        self.errors = Counter(
            f"{PREFIX}_errors", "Failed polls by cause.", ["account", "cause"], registry=registry
        )
        self.backoff_seconds = Counter(
            f"{PREFIX}_backoff_seconds",
            "Seconds spent backing off after failures.",
            labels,
            registry=registry,
        )
        self.last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "Unix time of the last successful Feed v3 read.",
            labels,
            registry=registry,
        )
        self.last_batch_size = Gauge(
            f"{PREFIX}_last_batch_size", "Items in the last Feed v3 read.", labels, registry=registry
        )
        self.lanes = Gauge(
            f"{PREFIX}_lots_in_flight_target",
            "Feed v3 lots the poller keeps in flight now (grows while lots come back full).",
            labels,
            registry=registry,
        )
        self.backlog_items = Gauge(
            f"{PREFIX}_backlog_items",
            "Messages in the Feed v3 queue (in flight or not), as VTEX last reported them.",
            labels,
            registry=registry,
        )
        #: Unlabelled, exported from the start: the series an alert watches for "every poller gone".
        self.accounts = Gauge(
            f"{PREFIX}_accounts", "Accounts whose Feed v3 this poller polls.", registry=registry
        )
        self.backlog_age_seconds = Gauge(
            f"{PREFIX}_backlog_age_seconds",
            "Age of the oldest message in the Feed v3 queue, as VTEX last reported it.",
            labels,
            registry=registry,
        )

    def account(self, name: str) -> AccountPollerMetrics:
        """Return the series of account `name` (created at once, so every account shows from the start)."""
        return AccountPollerMetrics(self, name)


class _CauseCounter:
    """`errors.labels(cause=...)` of one account, as the poll loop calls it."""

    def __init__(self, family: Counter, account: str) -> None:
        self._family = family
        self._account = account

    def labels(self, *, cause: str) -> Counter:
        return self._family.labels(account=self._account, cause=cause)


class AccountPollerMetrics:
    """One account's series of `PollerMetrics`, with the attribute names the poll loop updates."""

    def __init__(self, families: PollerMetrics, account: str) -> None:
        self.families = families
        self.registry = families.registry
        self.account = account
        self.items_read = families.items_read.labels(account=account)
        self.records_produced = families.records_produced.labels(account=account)
        self.items_committed = families.items_committed.labels(account=account)
        self.items_dead_lettered = families.items_dead_lettered.labels(account=account)
        self.errors = _CauseCounter(families.errors, account)
        self.backoff_seconds = families.backoff_seconds.labels(account=account)
        self.last_success = families.last_success.labels(account=account)
        self.last_batch_size = families.last_batch_size.labels(account=account)
        self.lanes = families.lanes.labels(account=account)
        self.backlog_items = families.backlog_items.labels(account=account)
        self.backlog_age_seconds = families.backlog_age_seconds.labels(account=account)
        self.lanes.set(1)
