"""Unit tests of per-order lanes: order within a key, concurrency across keys, batching, backpressure."""

from __future__ import annotations

import asyncio

import pytest

from processors.lanes import LaneScheduler, LanesClosed
from testkit.kafka import wait_until


class TestLanes:
    """Items of one key run in order, batched; keys run concurrently; submit blocks at the bound."""

    async def test_order_within_key_and_batching(self) -> None:
        seen: list[tuple[str, list[int]]] = []
        gate = asyncio.Event()

        async def handler(key: str, batch: list[int]) -> None:
            await gate.wait()
            seen.append((key, batch))

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=4, max_pending=100)
        for i in range(5):
            await lanes.submit("a", 0, i)
        gate.set()
        assert await lanes.wait_idle(timeout=5)
        flat = [i for _, batch in seen for i in batch]
        assert [0, 1, 2, 3, 4] == flat
        assert len(seen) <= 2  # the first item alone, then the rest as one batch
        await lanes.close()

    async def test_keys_run_concurrently(self) -> None:
        running = 0
        peak = 0

        async def handler(key: str, batch: list[int]) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=8, max_pending=100)
        for k in range(8):
            await lanes.submit(f"k{k}", 0, k)
        assert await lanes.wait_idle(timeout=5)
        assert 8 == peak
        await lanes.close()

    async def test_submit_blocks_at_max_pending(self) -> None:
        gate = asyncio.Event()

        async def handler(key: str, batch: list[int]) -> None:
            await gate.wait()

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=2, max_pending=3)
        for i in range(3):
            await lanes.submit(f"k{i}", 0, i)
        blocked = asyncio.create_task(lanes.submit("k9", 0, 9))
        await asyncio.sleep(0.05)
        assert False is blocked.done()
        gate.set()
        await asyncio.wait_for(blocked, 5)
        assert await lanes.wait_idle(timeout=5)
        await lanes.close()

    async def test_crashing_handler_retries_the_same_batch(self, monkeypatch: object) -> None:
        import processors.lanes as lanes_module

        monkeypatch.setattr(lanes_module, "HANDLER_CRASH_BACKOFF_S", 0.01)  # type: ignore[attr-defined]
        calls: list[list[int]] = []

        async def handler(key: str, batch: list[int]) -> None:
            calls.append(batch)
            if len(calls) == 1:
                raise RuntimeError("boom")

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=1, max_pending=10)
        await lanes.submit("a", 0, 1)
        assert await lanes.wait_idle(timeout=5)
        assert [[1], [1]] == calls
        await lanes.close()

    async def test_abandon_drops_only_the_groups_lanes(self) -> None:
        gate = asyncio.Event()
        done: list[str] = []

        async def handler(key: str, batch: list[int]) -> None:
            await gate.wait()
            done.append(key)

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=4, max_pending=10)
        await lanes.submit("p0", 0, 1)
        await lanes.submit("p1", 1, 2)
        await wait_until(lambda: lanes.pending_in([0]) == 1, timeout=5)
        assert 1 == await lanes.abandon([0])
        gate.set()
        assert await lanes.wait_idle(timeout=5)
        assert ["p1"] == done
        assert 0 == lanes.pending
        await lanes.close()


class TestClosedLanes:
    """After `close` (the worker stopping), a submit is refused with `LanesClosed`, also one that waited."""

    async def test_submit_after_close(self) -> None:
        async def handler(key: str, batch: list[int]) -> None:
            return None

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=1, max_pending=10)
        await lanes.close()
        with pytest.raises(LanesClosed):
            await lanes.submit("a", 0, 1)

    async def test_submit_waiting_at_the_bound_when_closed(self) -> None:
        gate = asyncio.Event()

        async def handler(key: str, batch: list[int]) -> None:
            await gate.wait()

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=1, max_pending=1)
        await lanes.submit("a", 0, 1)
        blocked = asyncio.create_task(lanes.submit("b", 0, 2))
        await wait_until(lambda: not blocked.done() and lanes.pending == 1, timeout=5)
        await lanes.close()
        with pytest.raises(LanesClosed):
            await asyncio.wait_for(blocked, 5)


class TestClassPending:
    """Items pending per key class (the worker's accounts): queued and running ones, until done or dropped."""

    @staticmethod
    def _lanes(gates: dict[str, asyncio.Event]) -> LaneScheduler[int]:
        async def handler(key: str, batch: list[int]) -> None:
            await gates[key.split("/", 1)[0]].wait()

        return LaneScheduler(
            handler, max_active=10, max_pending=100, slot_class=lambda key: key.split("/", 1)[0]
        )

    async def test_counts_queued_and_running_items_per_class(self) -> None:
        gates = {"a": asyncio.Event(), "b": asyncio.Event()}
        lanes = self._lanes(gates)
        assert ("a", "b") == (lanes.class_of("a/1"), lanes.class_of("b/7"))
        await lanes.submit("a/1", 0, 1)
        await lanes.submit("a/1", 0, 2)
        await lanes.submit("a/2", 1, 3)
        await lanes.submit("b/1", 0, 4)
        await wait_until(lambda: lanes.items("a/1")[0] == [1, 2], timeout=5)  # one batch
        await lanes.submit("a/1", 0, 5)  # queued behind the running batch
        assert ([1, 2], [5]) == lanes.items("a/1")
        assert (4, 1, 0) == (lanes.class_pending("a"), lanes.class_pending("b"), lanes.class_pending("c"))
        gates["a"].set()
        await wait_until(lambda: lanes.class_pending("a") == 0, timeout=5)
        assert 1 == lanes.class_pending("b")
        gates["b"].set()
        assert await lanes.wait_idle(timeout=5)
        assert (0, 0) == (lanes.class_pending("a"), lanes.class_pending("b"))
        await lanes.close()

    async def test_without_classes_every_key_is_of_class_empty(self) -> None:
        gate = asyncio.Event()

        async def handler(key: str, batch: list[int]) -> None:
            await gate.wait()

        lanes: LaneScheduler[int] = LaneScheduler(handler, max_active=4, max_pending=10)
        assert "" == lanes.class_of("a/1")
        await lanes.submit("a/1", 0, 1)
        await lanes.submit("b/1", 0, 2)
        assert 2 == lanes.class_pending("")
        gate.set()
        assert await lanes.wait_idle(timeout=5)
        assert 0 == lanes.class_pending("")
        await lanes.close()

    async def test_abandon_drops_the_groups_items_from_their_classes(self) -> None:
        gates = {"a": asyncio.Event(), "b": asyncio.Event()}
        lanes = self._lanes(gates)
        await lanes.submit("a/1", 0, 1)
        await lanes.submit("a/1", 0, 2)
        await lanes.submit("a/2", 1, 3)
        await lanes.submit("b/1", 0, 4)
        await wait_until(lambda: lanes.items("a/1")[0] == [1, 2], timeout=5)  # one batch
        assert 3 == await lanes.abandon([0])
        assert (1, 0) == (lanes.class_pending("a"), lanes.class_pending("b"))
        assert 1 == lanes.pending
        assert 1 == await lanes.abandon([1])
        assert (0, 0) == (lanes.class_pending("a"), lanes.class_pending("b"))
        await lanes.close()

    async def test_close_clears_every_class(self) -> None:
        gates = {"a": asyncio.Event(), "b": asyncio.Event()}
        lanes = self._lanes(gates)
        await lanes.submit("a/1", 0, 1)
        await lanes.submit("b/1", 1, 2)
        await lanes.close()
        assert (0, 0) == (lanes.class_pending("a"), lanes.class_pending("b"))

    async def test_wait_class_room_returns_once_below_the_bound(self) -> None:
        gates = {"a": asyncio.Event(), "b": asyncio.Event()}
        lanes = self._lanes(gates)
        await lanes.submit("b/1", 0, 1)
        await lanes.submit("b/2", 0, 2)
        await asyncio.wait_for(lanes.wait_class_room("b", 3), 5)  # 2 < 3: at once
        await asyncio.wait_for(lanes.wait_class_room("a", 1), 5)  # nothing of a pending
        waiting = asyncio.create_task(lanes.wait_class_room("b", 2))
        other = asyncio.create_task(lanes.wait_class_room("b", 1))
        await wait_until(lambda: lanes.class_pending("b") == 2, timeout=5)
        await lanes.submit("a/1", 0, 3)  # another class changing does not release b's waiters
        gates["a"].set()
        await wait_until(lambda: lanes.class_pending("a") == 0, timeout=5)
        assert not waiting.done() and not other.done()
        gates["b"].set()
        await asyncio.wait_for(waiting, 5)
        await asyncio.wait_for(other, 5)
        assert 0 == lanes.class_pending("b")
        await lanes.close()

    async def test_wait_class_room_ends_when_closed(self) -> None:
        gates = {"a": asyncio.Event(), "b": asyncio.Event()}
        lanes = self._lanes(gates)
        await lanes.submit("b/1", 0, 1)
        waiting = asyncio.create_task(lanes.wait_class_room("b", 1))
        await wait_until(lambda: lanes.items("b/1")[0] == [1], timeout=5)
        assert not waiting.done()
        await lanes.close()
        await asyncio.wait_for(waiting, 5)
