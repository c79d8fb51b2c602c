"""Schemathesis drives the running ingress from its OpenAPI document: conformant answers, never a 5xx,
and a record is produced exactly when the answer is 200.

The ingress runs for real (aiohttp on a loopback port, in its own thread and loop) with a producer that
acknowledges at once, so thousands of generated bodies, headers and encodings cost seconds.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings

from bridge.ingress.app import create_app, create_metrics_app
from bridge.validation import load_schema
from schemas import BASE_URI, SCHEMA_DIR
from tests.support.ingress import HEADER, SECRET, FakeProducer, ingress_settings


def _inline_local_refs(node: Any) -> Any:
    """Replace references to our own JSON Schemas (by `$id` URL) with their content: no network."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(BASE_URI):
            name = ref.removeprefix(BASE_URI).removesuffix(".schema.json")
            inlined = {k: v for k, v in load_schema(name).items() if k not in ("$id", "$schema")}
            return _inline_local_refs(inlined)
        return {k: _inline_local_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_local_refs(v) for v in node]
    return node


SCHEMA = schemathesis.openapi.from_dict(
    _inline_local_refs(json.loads((SCHEMA_DIR / "ingress.openapi.json").read_text()))
)
STARTUP_TIMEOUT_S = 30.0


class RunningIngress:
    """The real ingress app (and its metrics app, on a port of its own) served from a background thread."""

    def __init__(self) -> None:
        self.producer = FakeProducer()
        self.url = ""
        self.metrics_url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="ingress-under-test", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = create_app(ingress_settings(), producer=self.producer)
        runner = web.AppRunner(app, access_log=None)
        metrics_runner = web.AppRunner(create_metrics_app(app), access_log=None)
        urls = []
        for each in (runner, metrics_runner):
            await each.setup()
            await web.TCPSite(each, "127.0.0.1", 0).start()
            port = next(a[1] for a in each.addresses if isinstance(a, tuple))
            urls.append(f"http://127.0.0.1:{port}")
        self.url, self.metrics_url = urls
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()
        await metrics_runner.cleanup()

    def __enter__(self) -> RunningIngress:
        self._thread.start()
        assert self._ready.wait(STARTUP_TIMEOUT_S), "the ingress did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STARTUP_TIMEOUT_S)


@pytest.fixture(scope="module")
def ingress() -> Iterator[RunningIngress]:
    with RunningIngress() as running:
        yield running


@SCHEMA.parametrize()
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
def test_ingress_conforms_to_its_openapi(case: schemathesis.Case[Any], ingress: RunningIngress) -> None:
    """Generated requests, with the valid secret, get documented answers; only 200s produce."""
    before = len(ingress.producer.records)
    # /metrics is served on its own address (the document's per-path server), the rest on the hook port.
    base_url = ingress.metrics_url if case.operation.path == "/metrics" else ingress.url
    response = case.call(base_url=base_url, headers={HEADER: SECRET})
    case.validate_response(response)
    assert response.status_code < 500
    produced = len(ingress.producer.records) - before
    is_hook = case.operation.method.upper() == "POST"
    accepted = is_hook and response.status_code == 200 and response.json().get("status") == "accepted"
    assert (1 if accepted else 0) == produced
