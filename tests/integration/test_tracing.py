"""One trace spans the ingress and a worker process: hook request -> produce -> process -> OMS read, and the
downstream record carries it on; spans arrive over real OTLP/HTTP, records over a real broker."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import pytest

from bridge.tracing import TRACEPARENT
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all, wait_until
from testkit.worker import WorkerConfig, WorkerProcess
from tests.support.ingress import ACCOUNT, auth_headers, hook_payload, ingress_settings, running_ingress
from tests.support.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]

#: OTLP span kinds (opentelemetry-proto `Span.SpanKind`).
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
INGRESS, WORKER = "vtex-bridge-ingress", "vtex-bridge-worker"
OMS_SPAN = "GET /api/oms/pvt/orders/{orderId}"


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan | None:
    found = [span for span in spans if span.name == name]
    return found[0] if len(found) == 1 else None


class TestOneTraceAcrossProcesses:
    """A hook's trace starts at the ingress and continues in the worker, which hands it to consumers."""

    async def test_ingress_to_worker_to_downstream(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        async with OtlpReceiver().running() as receiver:
            config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
            config.extra.update(
                {
                    "VTEX_BRIDGE_TRACING_OTLP_ENDPOINT": receiver.endpoint,
                    "VTEX_BRIDGE_TRACING_EXPORT_INTERVAL_S": "0.2",
                    "VTEX_ACCOUNT": ACCOUNT,  # the ingress's account: the worker reads its orders
                }
            )
            await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
            settings = ingress_settings(
                kafka_bootstrap_servers=kafka_bootstrap,
                input_topic=config.input_topic,
                tracing_otlp_endpoint=receiver.endpoint,
                tracing_export_interval_s=0.2,
            )
            with WorkerProcess(config, tmp_path) as worker:
                await worker.start()
                async with running_ingress(settings) as port, aiohttp.ClientSession() as session:
                    url = f"http://127.0.0.1:{port}{settings.ingress_path}"
                    payload = orjson.dumps(hook_payload("v-trace-01", "ready-for-handling"))
                    async with session.post(url, data=payload, headers=auth_headers()) as response:
                        assert 200 == response.status
                        event_id = (await response.json())["event_id"]

                    def request_span() -> ReceivedSpan | None:
                        return one([s for s in receiver.spans if s.service == INGRESS], "POST /hooks/vtex")

                    await wait_until(lambda: request_span() is not None, timeout=30, message="ingress span")
                    server = request_span()
                    assert server is not None
                    trace_id = server.trace_id
                    process_name = f"process {config.input_topic}"

                    def complete() -> bool:
                        spans = receiver.trace(trace_id)
                        return all(one(spans, n) for n in (process_name, OMS_SPAN))

                    await wait_until(complete, timeout=60, message="the worker's spans of the hook's trace")
                assert 0 == await worker.terminate()
                assert [] == worker.error_lines()

            spans = receiver.trace(trace_id)
            send = one(spans, f"send {config.input_topic}")
            process, oms = one(spans, process_name), one(spans, OMS_SPAN)
            assert send is not None and process is not None and oms is not None
            # The parent chain crosses the process boundary through the input record's headers.
            assert ("", server.span_id, send.span_id, process.span_id) == (
                server.parent_span_id,
                send.parent_span_id,
                process.parent_span_id,
                oms.parent_span_id,
            )
            assert [(INGRESS, SERVER), (INGRESS, PRODUCER), (WORKER, CONSUMER), (WORKER, CLIENT)] == [
                (s.service, s.kind) for s in (server, send, process, oms)
            ]
            assert (event_id, event_id, "emitted", 200) == (
                server.attributes["vtex.event_id"],
                process.attributes["vtex.event_id"],
                process.attributes["bridge.outcome"],
                oms.attributes["http.response.status_code"],
            )
            # Consumers of the downstream record continue the same trace, under the worker's span.
            (record,) = await read_all(kafka_bootstrap, config.status_topic("ready-for-handling"), expected=1)
            headers = dict(record.headers)
            version, carried_trace, carried_parent, flags = headers[TRACEPARENT].decode().split("-")
            assert ("00", trace_id, process.span_id, 1) == (
                version,
                carried_trace,
                carried_parent,
                int(flags, 16) & 1,  # sampled
            )
            assert event_id == headers["event_id"].decode()
