"""Unit tests of the order timeline: entries, the bounded list, stores, and what the pipeline records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.settings import load_settings
from bridge.vtex.errors import OrderNotFound
from processors.dedup import OrderMemory
from processors.metrics import ProcessorMetrics
from processors.pipeline import Pipeline
from processors.records import Outgoing
from processors.routing import Router
from processors.state import MemoryState
from processors.timeline import (
    TimelineOp,
    apply,
    decode_value,
    encode_entry,
    encode_value,
    entry,
    entry_time,
    expand,
)
from processors.timeline_store import MemoryTimelines, RocksTimelines, TimelineStore
from processors.work import Work
from processors.writer import RetryBatch
from testkit.worker import hook

SETTINGS = load_settings(
    kafka_embedded=False,
    worker_not_found_grace_s=0.05,
    worker_retry_backoff_max_s=0.01,
    status_topic_prefix="st.",
    dead_letter_topic="dlq",
    worker_timeline_max_entries=5,
)


def raw(t: float, outcome: str = "emitted", **extra: Any) -> bytes:
    return encode_entry(entry(t, outcome=outcome, partition=0, offset=int(t), **extra))


class TestEntries:
    """An entry is compact JSON starting with its time; the API expands it to readable names."""

    def test_encode_and_expand(self) -> None:
        item = entry(
            12.5, outcome="emitted", partition=3, offset=7, event_id="e1", state="invoiced", source="hook"
        )
        encoded = encode_entry(item, ("st.invoiced", 1, 42))
        assert encoded.startswith(b'{"t":12.5,')
        assert 12.5 == entry_time(encoded)
        assert {
            "recorded_at": 12.5,
            "event_id": "e1",
            "state": "invoiced",
            "source": "hook",
            "outcome": "emitted",
            "input": {"partition": 3, "offset": 7},
            "record": {"topic": "st.invoiced", "partition": 1, "offset": 42},
        } == expand(encoded)

    def test_nulls_are_left_out_and_details_truncated(self) -> None:
        encoded = encode_entry(entry(1.0, outcome="dead_lettered", partition=0, offset=1, msg="x" * 1000))
        value = orjson.loads(encoded)
        assert "id" not in value and "st" not in value
        assert 240 == len(value["msg"])

    def test_entry_time_of_an_unusual_entry(self) -> None:
        assert 7.0 == entry_time(b'{"out":"emitted","t":7.0}')


class TestBoundedList:
    """A timeline keeps the newest entries within the bound and the TTL; empty means tombstone."""

    def test_bound_keeps_newest(self) -> None:
        entries = apply([raw(1), raw(2)], [raw(3), raw(4)], max_entries=3, expire_before=None)
        assert [2.0, 3.0, 4.0] == [entry_time(e) for e in entries]

    def test_expiry_drops_old_entries(self) -> None:
        entries = apply([raw(1), raw(5)], [], max_entries=10, expire_before=3.0)
        assert [5.0] == [entry_time(e) for e in entries]
        assert [] == apply([raw(1)], [], max_entries=10, expire_before=3.0)

    def test_changelog_value_round_trip(self) -> None:
        entries = [raw(1), raw(2, "duplicate")]
        value = encode_value(entries)
        assert value is not None and value.startswith(b"[")
        assert entries == decode_value(value)
        assert None is encode_value([])
        assert [] == decode_value(None)


@pytest.fixture(params=["memory", "rocks"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TimelineStore:
    return MemoryTimelines() if request.param == "memory" else RocksTimelines(tmp_path / "tl")


class TestStores:
    """Both stores keep entry lists per order, know the oldest entry's time, and delete on empty."""

    def test_put_get_delete(self, store: TimelineStore) -> None:
        store.put("o1", [raw(3), raw(4)])
        store.put("o2", [raw(9)])
        assert [raw(3), raw(4)] == store.get("o1")
        assert 3.0 == store.oldest("o1")
        assert (2, {"o1", "o2"}) == (len(store), set(store.order_ids()))
        store.put("o1", None)
        assert ([], None, 1) == (store.get("o1"), store.oldest("o1"), len(store))
        store.close()


class TimelineWriter:
    """An in-memory writer that applies timeline ops like `PartitionWriter` (positions are fake)."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self.timeline = MemoryTimelines()
        self.lost = False
        self.records: list[Outgoing] = []
        self.ops: list[TimelineOp] = []
        self.fail_next = 0

    async def write(
        self,
        records: Sequence[Outgoing],
        state: Sequence[tuple[str, OrderMemory | None]],
        timeline: Sequence[TimelineOp] = (),
    ) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RetryBatch("injected")
        first = len(self.records)
        self.records.extend(records)
        self.ops.extend(timeline)
        for order_id, memory in state:
            self.state.apply(order_id, memory)
        for op in timeline:
            appended = []
            for item in op.entries:
                position = None
                if item.record is not None:
                    position = (records[item.record].topic, 0, first + item.record)
                appended.append(encode_entry(item, position))
            self.timeline.put(
                op.order_id,
                apply(
                    self.timeline.get(op.order_id), appended, max_entries=5, expire_before=op.expire_before
                ),
            )

    def entries(self, order_id: str) -> list[dict[str, Any]]:
        return [expand(e) for e in self.timeline.get(order_id)]


class Reader:
    def __init__(self) -> None:
        self.errors: list[Exception] = []

    async def get_order(self, order_id: str) -> dict[str, Any]:
        if self.errors:
            raise self.errors.pop(0)
        return {"orderId": order_id, "status": "invoiced"}


def pipeline(writer: TimelineWriter, reader: Reader, **overrides: Any) -> Pipeline:
    return Pipeline(
        SETTINGS.model_copy(update=overrides),
        oms=reader,
        router=Router("st."),
        metrics=ProcessorMetrics(100.0),
        writer_for=lambda p: writer,  # type: ignore[arg-type,return-value]
        clock=lambda: 1000.0,
    )


def work(event: Any, offset: int) -> Work:
    return Work(0, offset, event.key(), event.encode(), event, None, lambda: None)


class TestPipelineTimeline:
    """Each event's outcome becomes one entry, in input order, committed with the batch."""

    async def test_emitted_duplicate_late_in_input_order(self) -> None:
        writer, reader = TimelineWriter(), Reader()
        a, b = hook("o1", "handling", 1.0), hook("o1", "invoiced", 5.0)
        late = hook("o1", "payment-approved", 2.0)
        await pipeline(writer, reader).handle("o1", [work(a, 10), work(b, 11), work(a, 12)])
        await pipeline(writer, reader).handle("o1", [work(late, 13)])
        entries = writer.entries("o1")
        assert ["emitted", "emitted", "duplicate", "late"] == [e["outcome"] for e in entries]
        assert [10, 11, 12, 13] == [e["input"]["offset"] for e in entries]
        assert [a.event_id, b.event_id, a.event_id] == [e["event_id"] for e in entries[:3]]
        first = entries[0]
        assert ("handling", "hook", a.received_at) == (first["state"], first["source"], first["received_at"])
        assert {"topic": "st.handling", "partition": 0, "offset": 0} == first["record"]
        assert "invoiced" == first["oms"]["status"] and first["oms"]["latency_ms"] >= 0
        assert [1, 2, 3] == [entries[i].get("order_sequence") for i in (0, 1, 3)]
        assert "record" not in entries[2]
        assert "invoiced" == entries[3]["newer_state"]

    async def test_dead_letter_entry_points_at_the_dead_letter(self) -> None:
        writer, reader = TimelineWriter(), Reader()
        reader.errors = [OrderNotFound("nope", status=404)] * 1000
        event = hook("o2", "invoiced", 0.0)
        await pipeline(writer, reader).handle("o2", [work(event, 4)])
        (only,) = writer.entries("o2")
        assert ("dead_lettered", "order-not-found") == (only["outcome"], only["reason"])
        assert "dlq" == only["record"]["topic"]
        assert only["retries"]["oms-404"] >= 1

    async def test_retried_batch_leaves_one_entry_with_its_attempts(self) -> None:
        writer, reader = TimelineWriter(), Reader()
        writer.fail_next = 2
        event = hook("o3", "invoiced", 0.0)
        await pipeline(writer, reader).handle("o3", [work(event, 0)])
        (only,) = writer.entries("o3")
        assert ("emitted", 3, {"kafka": 2}) == (only["outcome"], only["attempts"], only["retries"])
        assert 1 == len(writer.records)

    async def test_invalid_record_gets_an_entry(self) -> None:
        writer, reader = TimelineWriter(), Reader()
        bad = Work(0, 9, b"o4", b"not json", None, "input record is not JSON", lambda: None)
        await pipeline(writer, reader).handle("o4", [bad])
        (only,) = writer.entries("o4")
        assert ("invalid", "invalid-event", "dlq") == (
            only["outcome"],
            only["reason"],
            only["record"]["topic"],
        )

    async def test_switched_off(self) -> None:
        writer, reader = TimelineWriter(), Reader()
        event = hook("o5", "invoiced", 0.0)
        await pipeline(writer, reader, worker_timeline_enabled=False).handle(
            "o5", [work(event, 0), work(event, 1)]
        )
        assert ([], 1) == (writer.ops, len(writer.records))
