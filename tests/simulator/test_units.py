"""Unit tests of the simulator's small parts: feed queue, token bucket, runtime controls, clocks."""

from __future__ import annotations

import random

import pytest

from simulator.clock import CompressedClock, ManualClock
from simulator.controls import Controls, InvalidControl
from simulator.feed import FeedQueue
from simulator.rate_limit import RateLimiter


def _event(n: int) -> dict[str, object]:
    return {"eventId": f"E{n}", "orderId": f"o{n}", "state": "handling"}


class TestFeedQueue:
    """Read items hide for the visibility timeout, come back uncommitted, and leave when committed."""

    def test_visibility_and_commit(self) -> None:
        queue = FeedQueue(random.Random(1))
        for n in range(3):
            queue.push(_event(n), now=0.0)
        first = queue.receive(2, visibility_s=240, now=1.0)
        assert ["E0", "E1"] == [i["eventId"] for i in first]
        assert ["E2"] == [i["eventId"] for i in queue.receive(10, visibility_s=240, now=2.0)]
        assert [] == queue.receive(10, visibility_s=240, now=240.0)
        assert 3 == queue.quantity()
        again = queue.receive(10, visibility_s=240, now=241.0)
        assert ["E0", "E1"] == [i["eventId"] for i in again]
        assert 0 == queue.commit([first[0]["handle"]])  # a stale handle no longer commits
        assert 2 == queue.commit([i["handle"] for i in again])
        assert 1 == queue.quantity()

    def test_retention(self) -> None:
        queue = FeedQueue(random.Random(1))
        queue.push(_event(0), now=0.0)
        queue.push(_event(1), now=50.0)
        assert 100.0 == queue.oldest_age(now=100.0)
        assert 1 == queue.expire(retention_s=100, now=100.0)
        assert 1 == queue.quantity()


class TestRateLimiter:
    """A bucket allows `per_minute` at once, then tells how long until the next token."""

    def test_limit(self) -> None:
        now = [0.0]
        limiter = RateLimiter(6, now=lambda: now[0])
        assert [0.0] * 6 == [limiter.try_acquire("a") for _ in range(6)]
        assert 10.0 == pytest.approx(limiter.try_acquire("a"))
        assert 0.0 == limiter.try_acquire("b")
        now[0] = 10.0
        assert 0.0 == limiter.try_acquire("a")

    def test_unlimited(self) -> None:
        limiter = RateLimiter(0)
        assert all(0.0 == limiter.try_acquire("a") for _ in range(1000))


class TestControls:
    """Controls update atomically and refuse unknown knobs and out-of-range values."""

    def test_update(self) -> None:
        controls = Controls()
        controls.update({"oms_latency_s": 0.5, "oms_5xx_rate": 0.25, "hook_paused": True})
        assert 0.5 == controls.oms_latency_s
        assert controls.hook_paused

    @pytest.mark.parametrize(
        "change",
        [{"nope": 1}, {"oms_5xx_rate": 2}, {"oms_latency_s": -1}, {"hook_paused": 1}, {"oms_latency_s": "x"}],
    )
    def test_invalid(self, change: dict[str, object]) -> None:
        controls = Controls()
        with pytest.raises(InvalidControl):
            controls.update({"oms_429_rate": 0.5, **change})
        assert 0.0 == controls.oms_429_rate


class TestClocks:
    """The manual clock moves only when told; the compressed one runs faster than real time."""

    async def test_manual(self) -> None:
        clock = ManualClock()
        await clock.sleep(100.0)
        clock.advance(5.0)
        assert 105.0 == clock.now()

    def test_compressed_rejects_zero(self) -> None:
        with pytest.raises(ValueError):
            CompressedClock(0)
