"""The feed poller's records carry a trace context only when tracing is on (fake feed and producer)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.poller import FeedPoller
from bridge.tracing import DISABLED, TRACE_HEADERS, TRACEPARENT, Tracing, build_tracing
from bridge.vtex.config_models import FeedItem
from tests.support.ingress import ACCOUNT, APP_KEY, FakeProducer

ITEM = {
    "handle": "h-1",
    "eventId": "e-1",
    "orderId": "v-feed-01",
    "state": "invoiced",
    "lastState": "handling",
    "lastChange": "2026-03-01T12:00:00.0000000Z",
    "currentChange": "2026-03-01T12:00:01.0000000Z",
    "domain": "Marketplace",
}


class OneLot:
    def __init__(self) -> None:
        self.items = [FeedItem.from_json(ITEM)]
        self.committed: list[str] = []

    async def read_feed(self, maxlot: int = 10) -> list[FeedItem]:
        items, self.items = self.items, []
        return items

    async def commit_feed(self, handles: Sequence[str]) -> None:
        self.committed.extend(handles)


async def poll(tracing: Tracing) -> FakeProducer:
    sink = FakeProducer()
    config = PollerConfig(input_topic="in", dead_letter_topic="dlq", account=ACCOUNT, app_key=APP_KEY)
    poller = FeedPoller(OneLot(), sink, config, tracing=tracing)
    assert 1 == (await poller.poll_once()).produced
    return sink


class TestFeedPollerTracing:
    """Each fed event starts a trace with a producer span whose context its input record carries."""

    async def test_traced(self) -> None:
        exporter = InMemorySpanExporter()
        tracing = build_tracing(exporter, service_name="vtex-bridge-feed-poller")
        sink = await poll(tracing)
        (span,) = exporter.get_finished_spans()
        assert ("send in", SpanKind.PRODUCER, None) == (span.name, span.kind, span.parent)
        traceparent = dict(sink.records[0].headers)[TRACEPARENT].decode()
        assert f"{span.context.trace_id:032x}-{span.context.span_id:016x}" in traceparent

    async def test_off(self) -> None:
        sink = await poll(DISABLED)
        assert set() == {name for name, _ in sink.records[0].headers} & TRACE_HEADERS
