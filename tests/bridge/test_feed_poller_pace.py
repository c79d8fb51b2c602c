"""The feed poller's pace follows the backlog: more lots in flight while lots come back full, up to the
configured concurrency, back to one when the feed is drained; one order's records keep feed order across
concurrent lots (fake feed and producer)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.poller import FeedPoller
from bridge.vtex.config_models import FeedItem
from testkit.kafka import wait_until
from tests.support.ingress import ACCOUNT, APP_KEY, FakeProducer


def item(n: int, order: int) -> FeedItem:
    return FeedItem.from_json(
        {
            "handle": f"h-{n}",
            "eventId": f"E{n:031d}",
            "orderId": f"{1000000000000 + order}-01",
            "state": "handling",
            "lastState": "start-handling",
            "lastChange": f"2026-03-01T12:{n // 60 % 60:02d}:{n % 60:02d}.0000000Z",
            "currentChange": f"2026-03-01T12:{n // 60 % 60:02d}:{n % 60:02d}.5000000Z",
            "domain": "Marketplace",
        }
    )


class SlowFeed:
    """A Feed v3 queue whose reads take a moment (so lots overlap); counts reads in flight at once."""

    def __init__(self, items: list[FeedItem], read_s: float = 0.01) -> None:
        self.items = items
        self.read_s = read_s
        self.committed: list[str] = []
        self.reading = 0
        self.most_reading = 0

    async def read_feed(self, maxlot: int = 10) -> list[FeedItem]:
        self.reading += 1
        self.most_reading = max(self.most_reading, self.reading)
        try:
            lot, self.items = self.items[:maxlot], self.items[maxlot:]
            await asyncio.sleep(self.read_s)
            return lot
        finally:
            self.reading -= 1

    async def commit_feed(self, handles: Sequence[str]) -> None:
        self.committed.extend(handles)

    async def get_feed_config(self) -> dict[str, Any]:
        return {"quantity": len(self.items), "approximateAgeOfOldestMessageInSeconds": 12.5}


@dataclass
class SlowOrder(FakeProducer):
    """Acknowledges every other record of one order key late (a later lot's record could overtake it)."""

    slow_key: bytes = b""
    seen: int = 0

    async def send(self, topic: str, key: bytes | None, value: bytes, *args: Any, **kwargs: Any) -> Any:
        if key == self.slow_key:
            self.seen += 1
            if self.seen % 2:
                await asyncio.sleep(0.05)
        return await super().send(topic, key, value, *args, **kwargs)


def config(**changes: Any) -> PollerConfig:
    base: dict[str, Any] = {
        "input_topic": "in",
        "dead_letter_topic": "dlq",
        "account": ACCOUNT,
        "app_key": APP_KEY,
        "idle_s": 0.01,
        "rate_per_s": 10_000.0,
        "max_concurrency": 4,
    }
    return PollerConfig(**{**base, **changes})


async def run_until_drained(poller: FeedPoller, feed: SlowFeed, total: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await wait_until(lambda: len(feed.committed) == total, timeout=30, message="feed drained")
        await wait_until(lambda: poller.lanes == 1, timeout=10, message="back to one lot at a time")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


class TestPace:
    """Full lots add a lot in flight (up to max_concurrency); partial ones halve it; drained = one."""

    async def test_backlog_uses_the_concurrency_then_returns_to_one(self) -> None:
        items = [item(n, order=n) for n in range(400)]
        feed, sink = SlowFeed(items), FakeProducer()
        poller = FeedPoller(feed, sink, config(backlog_interval_s=0.01))
        await run_until_drained(poller, feed, len(items))
        assert (4, 4) == (feed.most_reading, poller.max_lanes_used)
        assert sorted(i.handle for i in items) == sorted(feed.committed)
        assert 400 == len(sink.records)
        assert 1.0 == poller.metrics.lanes._value.get()
        assert 12.5 == poller.metrics.backlog_age_seconds._value.get()

    async def test_one_lot_at_a_time_when_configured(self) -> None:
        items = [item(n, order=n) for n in range(100)]
        feed = SlowFeed(items)
        poller = FeedPoller(feed, FakeProducer(), config(max_concurrency=1))
        await run_until_drained(poller, feed, len(items))
        assert (1, 1) == (feed.most_reading, poller.max_lanes_used)

    async def test_an_order_keeps_feed_order_across_concurrent_lots(self) -> None:
        # Order 7 has one event in every lot; every other one of its records is acknowledged late.
        items = [item(n, order=7 if n % 10 == 9 else 1000 + n) for n in range(200)]
        feed = SlowFeed(items, read_s=0.001)
        sink = SlowOrder(slow_key=b"1000000000007-01")
        poller = FeedPoller(feed, sink, config())
        await run_until_drained(poller, feed, len(items))
        changes = [orjson.loads(r.value)["LastChange"] for r in sink.records if r.key == sink.slow_key]
        assert 20 == len(changes)
        assert sorted(changes) == changes
        assert poller.max_lanes_used > 1
