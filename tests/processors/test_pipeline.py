"""Unit tests of the lane handler (pipeline) with an in-memory writer and OMS: no broker, no network."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from bridge.events import InputEvent
from bridge.settings import load_settings
from bridge.vtex.errors import OmsAuthError, OmsUnavailable, OrderNotFound
from processors.dedup import OrderMemory
from processors.metrics import ProcessorMetrics
from processors.outcomes import epoch_seconds as _epoch_seconds
from processors.pipeline import Pipeline
from processors.records import Outgoing
from processors.routing import Router
from processors.state import MemoryState
from processors.work import Work
from processors.writer import RetryBatch
from testkit.worker import hook

SETTINGS = load_settings(
    kafka_embedded=False,
    worker_not_found_grace_s=0.2,
    worker_retry_backoff_max_s=0.01,
    status_topic_prefix="st.",
    dead_letter_topic="dlq",
)


class FakeWriter:
    def __init__(self) -> None:
        self.state = MemoryState()
        self.lost = False
        self.records: list[Outgoing] = []
        self.fail_next = 0

    async def write(
        self,
        records: Sequence[Outgoing],
        state: Sequence[tuple[str, OrderMemory | None]],
        timeline: Sequence[object] = (),
    ) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RetryBatch("injected")
        self.records.extend(records)
        for order_id, memory in state:
            self.state.apply(order_id, memory)


class FakeReader:
    def __init__(self) -> None:
        self.calls = 0
        self.errors: list[Exception] = []

    async def get_order(self, order_id: str) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"orderId": order_id, "status": "invoiced"}


def work(event: InputEvent, acks: list[str], offset: int = 0) -> Work:
    return Work(0, offset, event.key(), event.encode(), event, None, lambda: acks.append(event.event_id))


@pytest.fixture
def parts() -> tuple[Pipeline, FakeWriter, FakeReader]:
    writer, reader = FakeWriter(), FakeReader()
    pipeline = Pipeline(
        SETTINGS,
        oms=reader,
        router=Router("st."),
        metrics=ProcessorMetrics(100.0),
        writer_for=lambda p: writer,  # type: ignore[arg-type,return-value]
        clock=lambda: 1000.0,
    )
    return pipeline, writer, reader


def values(writer: FakeWriter) -> list[dict[str, Any]]:
    return [orjson.loads(r.value or b"") for r in writer.records]


class TestPipeline:
    """A batch is de-duplicated, fetched once, flagged, routed, committed, then acked in order."""

    async def test_one_fetch_per_batch_and_in_batch_dedup(
        self, parts: tuple[Pipeline, FakeWriter, FakeReader]
    ) -> None:
        pipeline, writer, reader = parts
        a, b = hook("o1", "handling", 1.0), hook("o1", "invoiced", 2.0)
        acks: list[str] = []
        await pipeline.handle("o1", [work(a, acks), work(b, acks, 1), work(a, acks, 2)])
        assert 1 == reader.calls
        assert [a.event_id, b.event_id] == [v["event_id"] for v in values(writer)]
        assert ["st.handling", "st.invoiced"] == [r.topic for r in writer.records]
        assert [a.event_id, b.event_id, a.event_id] == acks
        await pipeline.handle("o1", [work(b, acks, 3)])  # a later duplicate: no fetch, no record
        assert (1, 2) == (reader.calls, len(writer.records))

    async def test_late_event_is_flagged(self, parts: tuple[Pipeline, FakeWriter, FakeReader]) -> None:
        pipeline, writer, _ = parts
        await pipeline.handle("o1", [work(hook("o1", "invoiced", 5.0), [])])
        await pipeline.handle("o1", [work(hook("o1", "handling", 1.0), [])])
        late = values(writer)[-1]
        assert (True, "invoiced") == (late["late"], late["newer_state"])

    async def test_404_past_grace_is_dead_lettered_once(
        self, parts: tuple[Pipeline, FakeWriter, FakeReader]
    ) -> None:
        pipeline, writer, reader = parts
        reader.errors = [OrderNotFound("nope", status=404)] * 1000
        event = hook("o2", "invoiced", 0.0)
        acks: list[str] = []
        await pipeline.handle("o2", [work(event, acks)])
        reader.errors = [OrderNotFound("nope", status=404)] * 1000
        await pipeline.handle("o2", [work(event, acks)])  # the same input record again (a crash replay)
        assert ["dlq"] == [r.topic for r in writer.records]
        assert ("order-not-found", event.event_id) == (
            values(writer)[0]["reason"],
            values(writer)[0]["event_id"],
        )
        assert [event.event_id, event.event_id] == acks

    async def test_transient_errors_are_retried_not_dead_lettered(
        self, parts: tuple[Pipeline, FakeWriter, FakeReader]
    ) -> None:
        pipeline, writer, reader = parts
        reader.errors = [OmsUnavailable("down"), OmsUnavailable("down")]
        writer.fail_next = 1
        await pipeline.handle("o3", [work(hook("o3", "invoiced", 0.0), [])])
        assert ["st.invoiced"] == [r.topic for r in writer.records]

    async def test_auth_error_halts_until_oms_accepts_again(
        self, parts: tuple[Pipeline, FakeWriter, FakeReader]
    ) -> None:
        pipeline, writer, reader = parts
        reader.errors = [OmsAuthError("403", status=403)]
        task = asyncio.create_task(pipeline.handle("o4", [work(hook("o4", "invoiced", 0.0), [])]))
        for _ in range(200):
            if pipeline.halted or task.done():
                break
            await asyncio.sleep(0.001)
        assert True is pipeline.halted or task.done()
        await asyncio.wait_for(task, 30)
        assert (False, ["st.invoiced"]) == (pipeline.halted, [r.topic for r in writer.records])

    async def test_invalid_event_is_dead_lettered(
        self, parts: tuple[Pipeline, FakeWriter, FakeReader]
    ) -> None:
        pipeline, writer, reader = parts
        acks: list[str] = []
        bad = Work(0, 7, b"k", b"not json", None, "input record is not JSON", lambda: acks.append("bad"))
        await pipeline.handle("k", [bad])
        assert (["dlq"], "invalid-event", "not json", 0) == (
            [r.topic for r in writer.records],
            values(writer)[0]["reason"],
            values(writer)[0]["event"],
            reader.calls,
        )
        assert ["bad"] == acks


class TestEpochSeconds:
    """The e2e histogram's reading of `received_at`: the ingress's own format fast, any other the long way."""

    def test_the_ingress_format(self) -> None:
        assert 1764090000.123456 == pytest.approx(_epoch_seconds("2025-11-25T17:00:00.123456Z"))

    def test_an_offset_and_seven_digits(self) -> None:
        assert 1764090000.0 == pytest.approx(_epoch_seconds("2025-11-25T14:00:00.0000000-03:00"))

    def test_naive_is_utc(self) -> None:
        assert 1764090000.0 == pytest.approx(_epoch_seconds("2025-11-25T17:00:00"))

    def test_not_a_timestamp(self) -> None:
        assert _epoch_seconds("yesterday") is None
