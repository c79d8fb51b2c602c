"""The simulated account's data: orders, hook and feed configurations per appKey, and what changes them.

`SimState.advance(transition)` is the single place an order moves: it updates the OMS document, enqueues
the Feed v3 event of every feed whose filter matches and returns the hook notifications to deliver for
every hook whose filter matches. HTTP handlers and the hook sender only read and call into this.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bridge.timestamps import format_vtex_timestamp
from simulator.clock import Clock
from simulator.config import SimConfig
from simulator.feed import FeedConfig, FeedQueue
from simulator.filters import Filter, FilterMatcher
from simulator.orders import apply_transition, build_order
from simulator.workload import Transition

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HookConfig:
    """One appKey's hook: filter, target URL and the headers VTEX adds to every notification."""

    app_key: str
    matcher: FilterMatcher
    url: str
    headers: dict[str, str]
    last_activity: float

    def to_json(self, account: str) -> dict[str, Any]:
        return {
            "filter": self.matcher.filter.to_json(),
            "hook": {"url": self.url, "headers": dict(self.headers)},
            "origin": {"account": account, "key": self.app_key},
        }


@dataclass(frozen=True, slots=True)
class Notification:
    """One hook POST to make: where, with which headers, and the body."""

    app_key: str
    url: str
    headers: dict[str, str]
    payload: dict[str, Any]


@dataclass(slots=True)
class SimState:
    """Everything the simulated VTEX account holds."""

    config: SimConfig
    clock: Clock
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[str, HookConfig] = field(default_factory=dict)
    feeds: dict[str, FeedConfig] = field(default_factory=dict)
    transitions_applied: int = 0
    _by_sequence: dict[str, str] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"state:{self.config.seed}")

    # --- orders ------------------------------------------------------------------------------
    def get_order(self, order_id: str) -> dict[str, Any] | None:
        """Return the document for an order id or `seq{sequence}` (REFERENCE §2)."""
        if order_id.startswith("seq"):
            order_id = self._by_sequence.get(order_id[3:], "")
        return self.orders.get(order_id)

    def create_order(self, order_id: str, created_at: datetime) -> dict[str, Any]:
        doc = build_order(order_id, created_at, account=self.config.account, seed=self.config.seed)
        self.orders[order_id] = doc
        self._by_sequence[doc["sequence"]] = order_id
        limit = self.config.max_orders
        while limit and len(self.orders) > limit:  # forget the oldest-created order (dicts keep order)
            oldest = self.orders.pop(next(iter(self.orders)))
            if self._by_sequence.get(oldest["sequence"]) == oldest["orderId"]:
                del self._by_sequence[oldest["sequence"]]
        return doc

    def advance(self, transition: Transition) -> list[Notification]:
        """Apply one status change; enqueue feed events; return the hook notifications it triggers."""
        doc = self.orders.get(transition.order_id)
        if doc is None:
            doc = self.create_order(transition.order_id, transition.at)
        last_state = doc["status"] if transition.step else transition.last_state
        apply_transition(doc, transition.state, transition.at)
        self.transitions_applied += 1
        now = self.clock.now()
        last_change = format_vtex_timestamp(transition.at)
        current = transition.at + timedelta(milliseconds=self._rng.randint(20, 1500))
        current_change = format_vtex_timestamp(current)
        for app_key, feed in list(self.feeds.items()):
            if self._feed_expired(app_key, feed, now):
                continue
            if feed.matcher.matches(doc):
                feed.queue.push(self._feed_event(doc, last_state, last_change, current_change), now)
                feed.last_event_at = now
        notifications: list[Notification] = []
        for app_key in list(self.hooks):
            hook = self.get_hook(app_key)
            if hook is None or not hook.matcher.matches(doc):
                continue
            hook.last_activity = now
            payload = {
                "Domain": self.config.domain,
                "OrderId": doc["orderId"],
                "State": transition.state,
                "LastState": last_state,
                "LastChange": last_change,
                "CurrentChange": current_change,
                "Origin": {"Account": self.config.account, "Key": app_key},
            }
            notifications.append(Notification(app_key, hook.url, dict(hook.headers), payload))
        return notifications

    def _feed_event(
        self, doc: dict[str, Any], last_state: str | None, last_change: str, current_change: str
    ) -> dict[str, Any]:
        return {
            "eventId": f"{self._rng.getrandbits(128):032X}",
            "domain": self.config.domain,
            "state": doc["status"],
            "lastState": last_state,
            "orderId": doc["orderId"],
            "lastChange": last_change,
            "currentChange": current_change,
        }

    # --- hooks -------------------------------------------------------------------------------
    def get_hook(self, app_key: str) -> HookConfig | None:
        """Return the appKey's hook, deleting it first if it was inactive too long (REFERENCE §5)."""
        hook = self.hooks.get(app_key)
        limit = self.config.hook_inactivity_s
        if hook is not None and limit > 0 and self.clock.now() - hook.last_activity >= limit:
            log.info("hook deleted after inactivity", extra={"app_key": app_key})
            del self.hooks[app_key]
            return None
        return hook

    def set_hook(self, app_key: str, flt: Filter, url: str, headers: dict[str, str]) -> HookConfig:
        hook = HookConfig(app_key, FilterMatcher(flt), url, headers, self.clock.now())
        self.hooks[app_key] = hook
        return hook

    # --- feeds -------------------------------------------------------------------------------
    def get_feed(self, app_key: str) -> FeedConfig | None:
        """Return the appKey's feed after dropping expired messages (or the whole idle feed)."""
        feed = self.feeds.get(app_key)
        if feed is None:
            return None
        now = self.clock.now()
        if self._feed_expired(app_key, feed, now):
            return None
        feed.queue.expire(feed.retention_s, now)
        return feed

    def set_feed(self, app_key: str, flt: Filter, visibility_s: int, retention_s: int) -> FeedConfig:
        """Create or reconfigure the feed; a reconfigured feed keeps its queued events (REFERENCE §4)."""
        now = self.clock.now()
        old = self.get_feed(app_key)
        queue = old.queue if old is not None else FeedQueue(random.Random(self._rng.getrandbits(64)))
        feed = FeedConfig(FilterMatcher(flt), visibility_s, retention_s, queue, now)
        self.feeds[app_key] = feed
        return feed

    def _feed_expired(self, app_key: str, feed: FeedConfig, now: float) -> bool:
        # "If no new event arrives for messageRetentionPeriodInSeconds, the feed config is deleted."
        if now - feed.last_event_at >= feed.retention_s:
            log.info("feed deleted after retention without events", extra={"app_key": app_key})
            del self.feeds[app_key]
            return True
        return False

    def feed_depth(self) -> dict[str, int]:
        return {key: feed.queue.quantity() for key, feed in self.feeds.items()}
