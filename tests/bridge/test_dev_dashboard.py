"""Unit tests of the live view's figures (`bridge.dev.dashboard`)."""

from __future__ import annotations

from bridge.dev.dashboard import Snapshot, records_per_topic, render
from bridge.dev.kafka_view import KafkaSnapshot
from bridge.dev.scrape import Samples

WRITTEN = "bridge_processor_records_written_total"


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
