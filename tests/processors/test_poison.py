"""Isolated failure vs. outage: the rule, the per-event retry budget, records too large for their topic.

Unit tests with an in-memory writer and OMS (no broker): an order OMS keeps failing while others are
served is dead-lettered after its budget and the order continues behind it; when every order fails
nothing is dead-lettered; a record its topic cannot hold is dead-lettered at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.settings import load_settings
from bridge.vtex.errors import OmsUnavailable
from processors.failure_rule import FailureRule
from processors.metrics import ProcessorMetrics
from processors.pipeline import Pipeline
from processors.records import HEADER_FOLLOWS_DEAD_LETTER
from processors.routing import Router
from processors.topic_limits import FixedLimits, TopicLimits, record_size
from processors.work import Work
from processors.writer import RecordRejected
from testkit.worker import hook
from tests.processors.test_pipeline import FakeWriter, values

SETTINGS = load_settings(
    kafka_embedded=False,
    worker_retry_backoff_max_s=0.001,
    worker_event_retry_attempts=3,
    worker_event_retry_s=10.0,
    worker_outage_window_s=60.0,
    worker_outage_min_success_ratio=0.5,
    worker_timeline_enabled=False,
    status_topic_prefix="st.",
    dead_letter_topic="dlq",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestFailureRule:
    """A failing order is isolated only while other orders' reads succeed (and make the ratio)."""

    def test_isolated_while_others_succeed(self) -> None:
        clock = Clock()
        rule = FailureRule(window_s=60, min_success_ratio=0.5, clock=clock)
        for i in range(10):
            rule.success(f"other-{i}")
        for _ in range(20):  # the poison order's own failures do not count against it
            rule.failure("poison")
            clock.now += 1
        assert rule.isolated("poison")

    def test_outage_is_not_isolated(self) -> None:
        clock = Clock()
        rule = FailureRule(window_s=60, min_success_ratio=0.5, clock=clock)
        for i in range(50):
            rule.failure(f"order-{i % 7}")
            clock.now += 0.5
        assert not rule.isolated("order-1")

    def test_first_successes_after_an_outage_do_not_flip_it(self) -> None:
        clock = Clock()
        rule = FailureRule(window_s=60, min_success_ratio=0.5, clock=clock)
        for i in range(40):
            rule.failure(f"order-{i % 10}")
        clock.now += 5
        for i in range(5):  # OMS is back: a few orders succeed
            rule.success(f"order-{i}")
        assert not rule.isolated("order-9")
        clock.now += 61  # the outage's failures left the window; only the poison keeps failing
        for i in range(5):
            rule.success(f"order-{i}")
        rule.failure("order-9")
        assert rule.isolated("order-9")

    def test_no_traffic_no_verdict(self) -> None:
        rule = FailureRule(window_s=60, min_success_ratio=0.5, clock=Clock())
        rule.failure("alone")
        assert not rule.isolated("alone")


class Oms:
    """Serves every order except those in `failing` (5xx); `down` fails everyone."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.down = False
        self.calls: dict[str, int] = {}
        self.document: dict[str, Any] = {}

    async def get_order(self, order_id: str) -> dict[str, Any]:
        self.calls[order_id] = self.calls.get(order_id, 0) + 1
        await asyncio.sleep(0)
        if self.down or order_id in self.failing:
            raise OmsUnavailable("OMS answered 500", status=500)
        return {"orderId": order_id, "status": "invoiced", **self.document}


def make(
    oms: Oms, clock: Clock, limits: TopicLimits | None = None, settings: Any = SETTINGS
) -> tuple[Pipeline, FakeWriter]:
    writer = FakeWriter()
    pipeline = Pipeline(
        settings,
        oms=oms,
        router=Router("st."),
        metrics=ProcessorMetrics(100.0),
        writer_for=lambda p: writer,  # type: ignore[arg-type,return-value]
        clock=lambda: 1000.0,
        limits=limits,
        monotonic=clock,
    )
    return pipeline, writer


def work(order_id: str, state: str, seconds: float, offset: int, acks: list[int]) -> Work:
    event = hook(order_id, state, seconds)
    return Work(0, offset, event.key(), event.encode(), event, None, lambda: acks.append(offset))


async def serve_others(pipeline: Pipeline, count: int, start: int = 100) -> None:
    for i in range(count):
        await pipeline.handle(f"other-{start + i}", [work(f"other-{start + i}", "invoiced", 0, 500 + i, [])])


class TestIsolatedFailure:
    """One order failing among served ones: budget, dead letter with facts, its order continues after it."""

    async def test_poison_is_dead_lettered_after_its_budget_and_the_order_continues(self) -> None:
        oms, clock = Oms(), Clock()
        pipeline, writer = make(oms, clock)
        await serve_others(pipeline, 5)
        oms.failing.add("poison")
        acks: list[int] = []
        first = work("poison", "handling", 1, 1, acks)
        task = asyncio.create_task(pipeline.handle("poison", [first]))
        while oms.calls.get("poison", 0) < 3:  # attempts spent, time not yet
            await asyncio.sleep(0.001)
        await serve_others(pipeline, 3, start=200)  # others are still served meanwhile
        assert not task.done()
        clock.now += 11  # the time budget passes too
        await asyncio.wait_for(task, 5)
        dead = values(writer)[-1]
        assert ("dlq", "oms-unavailable") == (writer.records[-1].topic, dead["reason"])
        assert dead["attempts"] >= 3 and "500" in dead["last_error"] and dead["retried_s"] >= 10
        assert first.event is not None and first.event.event_id == dead["event_id"]
        assert [1] == acks
        # OMS serves the order again: its next event is emitted and names the one it follows.
        oms.failing.clear()
        await pipeline.handle("poison", [work("poison", "invoiced", 2, 2, acks)])
        record = writer.records[-1]
        assert "st.invoiced" == record.topic
        assert (HEADER_FOLLOWS_DEAD_LETTER, first.event.event_id.encode()) in record.headers
        assert 1 == values(writer)[-1]["order_sequence"]
        await pipeline.handle("poison", [work("poison", "canceled", 3, 3, acks)])
        assert HEADER_FOLLOWS_DEAD_LETTER not in dict(writer.records[-1].headers)

    async def test_a_poisoned_orders_next_batch_does_not_wait_a_whole_budget(self) -> None:
        oms, clock = Oms(), Clock()
        pipeline, writer = make(oms, clock)
        await serve_others(pipeline, 5)
        oms.failing.add("poison")
        task = asyncio.create_task(pipeline.handle("poison", [work("poison", "handling", 1, 1, [])]))
        while oms.calls.get("poison", 0) < 3:
            await asyncio.sleep(0.001)
        clock.now += 11
        await asyncio.wait_for(task, 5)
        calls = oms.calls["poison"]
        await asyncio.wait_for(pipeline.handle("poison", [work("poison", "invoiced", 2, 2, [])]), 5)
        assert calls + 1 == oms.calls["poison"]  # one attempt, then dead-lettered
        assert ["oms-unavailable", "oms-unavailable"] == [
            v["reason"] for v in values(writer) if "reason" in v
        ]

    async def test_outage_dead_letters_nothing_and_delivers_after_recovery(self) -> None:
        oms, clock = Oms(), Clock()
        pipeline, writer = make(oms, clock)
        await serve_others(pipeline, 5)
        oms.down = True
        acks: list[int] = []
        tasks = [
            asyncio.create_task(pipeline.handle(f"o{i}", [work(f"o{i}", "invoiced", 1, i, acks)]))
            for i in range(6)
        ]
        while min(oms.calls.get(f"o{i}", 0) for i in range(6)) < 10:
            await asyncio.sleep(0.001)
            clock.now += 1  # far past the time budget
        assert not any(task.done() for task in tasks)
        oms.down = False
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert all(r.topic == "st.invoiced" for r in writer.records)
        assert sorted(range(6)) == sorted(acks)


class TestRecordsThatCannotFit:
    """A record larger than its topic's limit is dead-lettered before producing, with size and limit."""

    async def test_oversized_record_is_dead_lettered_without_the_document(self) -> None:
        oms, clock = Oms(), Clock()
        pipeline, writer = make(oms, clock, limits=FixedLimits(20_000))
        oms.document = {"items": ["x" * 50_000]}
        acks: list[int] = []
        await pipeline.handle("big", [work("big", "handling", 1, 1, acks)])
        dead = values(writer)[-1]
        assert ("dlq", "record-too-large") == (writer.records[-1].topic, dead["reason"])
        assert dead["size"] > 50_000 and 20_000 == dead["limit"] and "st.handling" == dead["topic"]
        assert len(writer.records[-1].value or b"") < 5_000  # the event, not the document
        assert [1] == acks
        oms.document = {}
        await pipeline.handle("big", [work("big", "invoiced", 2, 2, acks)])
        assert HEADER_FOLLOWS_DEAD_LETTER in dict(writer.records[-1].headers)

    async def test_a_record_kafka_refuses_twice_is_dead_lettered(self) -> None:
        oms, clock = Oms(), Clock()
        pipeline, writer = make(oms, clock)
        real_write = writer.write
        refusals = [RecordRejected("MessageSizeTooLargeError"), RecordRejected("again")]

        async def refusing(records: Any, state: Any, timeline: Any = ()) -> None:
            if refusals and any(r.topic != "dlq" for r in records):
                raise refusals.pop(0)
            await real_write(records, state, timeline)

        writer.write = refusing  # type: ignore[method-assign]
        await asyncio.wait_for(pipeline.handle("o", [work("o", "invoiced", 1, 1, [])]), 5)
        assert ["record-rejected"] == [v["reason"] for v in values(writer)]

    def test_record_size_counts_key_value_and_headers(self) -> None:
        from processors.records import Outgoing

        record = Outgoing("t", b"k" * 10, b"v" * 1000, [("h", b"x" * 5)])
        assert 1000 + 10 + 6 <= record_size(record) <= 1000 + 10 + 6 + 200


class TestTopicLimits:
    """The limit is read once per topic (cached), capped by the producer's request size; default on error."""

    async def test_cached_and_capped(self) -> None:
        asked: list[list[str]] = []

        async def describe(topics: list[str]) -> dict[str, int]:
            asked.append(topics)
            return {"small": 100_000, "huge": 50_000_000}

        limits = TopicLimits(describe)
        assert 100_000 == await limits.limit("small")
        assert 100_000 == await limits.limit("small")
        assert 16 * 1024 * 1024 == await limits.limit("huge")  # the producer's own cap
        assert 1048588 == await limits.limit("unset")  # not described: Kafka's default
        assert [["small"], ["huge"], ["unset"]] == asked

    async def test_unreachable_cluster_gives_the_default(self) -> None:
        async def describe(topics: list[str]) -> dict[str, int]:
            raise OSError("no broker")

        assert 1048588 == await TopicLimits(describe).limit("t")


@pytest.mark.parametrize("ratio", [0.5, 0.9])
def test_ratio_bound(ratio: float) -> None:
    clock = Clock()
    rule = FailureRule(window_s=60, min_success_ratio=ratio, clock=clock)
    for i in range(6):
        rule.success(f"ok-{i}")
    for i in range(4):
        rule.failure(f"bad-{i}")
    rule.failure("me")
    assert rule.isolated("me") is (0.6 >= ratio)


class TestWriterBlamesTheRecord:
    """A transaction that failed on one write's record fails that write with RecordRejected only."""

    async def test_culprits_from_send_and_from_futures(self) -> None:
        from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, RecordTooLargeError

        from processors.txn_commit import GroupWrite, record_culprits

        a, b, c = GroupWrite([], []), GroupWrite([], []), GroupWrite([], [])
        loop = asyncio.get_running_loop()
        ok, refused, slow = loop.create_future(), loop.create_future(), loop.create_future()
        ok.set_result(None)
        refused.set_exception(RecordTooLargeError("too large"))
        refused.exception()
        assert [b] == record_culprits(RecordTooLargeError(), [ok, refused, slow], [a, b, c], [a, b, c])
        direct = MessageSizeTooLargeError("send refused it")
        direct.bridge_write = c  # type: ignore[attr-defined]
        assert [c] == record_culprits(direct, [ok], [a], [a, b, c])
        assert [] == record_culprits(KafkaTimeoutError(), [ok, slow], [a, c], [a, b, c])
        slow.cancel()


class TestSince:
    """Successes from before a failure began prove nothing: an outage that follows traffic is no poison."""

    def test_successes_before_the_first_failure_do_not_count(self) -> None:
        clock = Clock()
        rule = FailureRule(window_s=300, min_success_ratio=0.5, clock=clock)
        for i in range(100):
            rule.success(f"before-{i}")
        clock.now += 1
        first = clock.now
        for _ in range(5):  # two orders fail (OMS went down); nobody succeeds any more
            rule.failure("a")
            rule.failure("b")
            clock.now += 30
        assert not rule.isolated("a", since=first)
        assert rule.isolated("a")  # without `since` the old traffic would have looked healthy
