"""Unit tests of the live view's figures (`bridge.cli.dev.dashboard`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from bridge.cli.dev.dashboard import Snapshot, records_per_topic, render
from bridge.cli.dev.kafka_view import KafkaSnapshot, RecentOrder, input_lag, newest_orders
from bridge.cli.dev.scrape import Samples

WRITTEN = "vtex_bridge_processor_records_written_total"


def worker(**per_topic: float) -> Samples:
    return {WRITTEN: [({"topic": topic.replace("_", ".")}, value) for topic, value in per_topic.items()]}


class TestRecordsPerTopic:
    def test_the_workers_topics_count_committed_records_not_offsets(self) -> None:
        offsets = {"vtex.orders.hooks": 50, "vtex.orders.status.invoiced": 40, "vtex.orders.dead-letter": 0}
        counts = records_per_topic(
            offsets, [worker(vtex_orders_status_invoiced=12), None], "vtex.orders.hooks"
        )
        # 40 offsets = 20 records + 20 commit markers; the worker committed 12 of them since it started.
        assert {
            "vtex.orders.hooks": 50,
            "vtex.orders.status.invoiced": 12,
            "vtex.orders.dead-letter": 0,
        } == counts

    def test_several_workers_add_up(self) -> None:
        offsets = {"vtex.orders.status.invoiced": 80}
        workers = [worker(vtex_orders_status_invoiced=12), worker(vtex_orders_status_invoiced=8)]
        assert {"vtex.orders.status.invoiced": 20} == records_per_topic(offsets, workers, "vtex.orders.hooks")

    def test_a_workers_topic_not_written_yet_shows_none(self) -> None:
        """Offsets read after the scrape may already hold a record (and its marker) the scrape missed."""
        offsets = {"vtex.orders.hooks": 1, "vtex.orders.status.order-created": 2}
        counts = records_per_topic(offsets, [worker()], "vtex.orders.hooks")
        assert {"vtex.orders.hooks": 1, "vtex.orders.status.order-created": 0} == counts

    def test_the_screen_shows_them(self) -> None:
        snap = Snapshot(
            at=1.0,
            services={"kafka": True},
            ingress=None,
            workers=[worker(vtex_orders_status_invoiced=3)],
            sim=None,
            kafka=KafkaSnapshot(
                {"vtex.orders.hooks": 7, "vtex.orders.status.invoiced": 6}, 0, "vtex.orders.hooks"
            ),
        )
        screen = render(snap, None, "header", [])
        lines = [line.split() for line in screen.splitlines() if "vtex.orders." in line]
        assert [["vtex.orders.hooks", "7"], ["vtex.orders.status.invoiced", "3"]] == lines


class TestRecentOrders:
    """The live view names recent orders, so a newcomer has an id to look up."""

    def test_newest_first_one_line_per_order(self) -> None:
        records = [
            FakeRecord(b"o-1", b"payment-pending", 1),
            FakeRecord(b"o-2", b"handling", 3),
            FakeRecord(b"o-1", b"invoiced", 5),
            FakeRecord(None, b"x", 9),
        ]
        assert [("o-1", "invoiced"), ("o-2", "handling")] == [
            (o.order_id, o.state) for o in newest_orders(records)
        ]

    def test_the_screen_offers_a_lookup(self) -> None:
        recent = (RecentOrder("1234567890123-01", "invoiced", 5),)
        snap = Snapshot(
            at=1.0,
            services={"kafka": True},
            ingress=None,
            workers=[],
            sim=None,
            kafka=KafkaSnapshot({"vtex.orders.hooks": 1}, 0, "vtex.orders.hooks", recent),
        )
        screen = render(snap, None, "header", [])
        assert "1234567890123-01 (invoiced)" in screen
        assert "vtex-bridge order 1234567890123-01" in screen


@dataclass
class FakeRecord:
    """The fields of an aiokafka ConsumerRecord that `newest_orders` reads."""

    key: bytes | None
    state: bytes
    timestamp: int

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [("state", self.state)]


class TestInputLag:
    """The live view's lag is end minus committed per input partition, never negative."""

    def test_end_minus_committed_per_partition(self) -> None:
        ends = {TopicPartition("in", 0): 10, TopicPartition("in", 1): 5, TopicPartition("other", 0): 99}
        committed = {TopicPartition("in", 0): 7, TopicPartition("in", 1): 5}
        assert 3 == input_lag("in", ends, committed)

    def test_a_partition_without_a_commit_counts_from_zero(self) -> None:
        ends = {TopicPartition("in", 0): 4}
        assert 4 == input_lag("in", ends, {TopicPartition("in", 0): -1})
        assert 4 == input_lag("in", ends, {})

    def test_a_commit_past_an_older_end_offset_is_zero_not_negative(self) -> None:
        assert 0 == input_lag("in", {TopicPartition("in", 0): 4}, {TopicPartition("in", 0): 6})
