"""A small fake of VTEX OMS `GET /api/oms/pvt/orders/{orderId}` served over real HTTP on loopback.

Order documents are `simulator/data/example-order.json` with `orderId`, `status` and `lastChange` set per
order. Faults are scripted: latency, a queue of status codes to answer next (429 with Retry-After, 5xx,
403, 404), orders that stay 404 for a number of calls or forever, and a global credentials failure.
Used by unit tests of the OMS client and by integration tests whose worker runs in a subprocess.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

EXAMPLE_ORDER = Path(__file__).resolve().parents[1] / "simulator" / "data" / "example-order.json"
APP_KEY = "vtexappkey-simaccount-BRIDGE"
APP_TOKEN = "sim-app-token-not-a-secret"


class UnusedOms:
    """The OMS of a runtime whose test never reads an order: any read fails the test."""

    async def get_order(self, order_id: str) -> dict[str, Any]:
        raise AssertionError("not called")


@dataclass
class FakeOms:
    """Scriptable OMS; `base_url` is valid between `start()` and `stop()`."""

    latency_s: float = 0.0
    default_status: str = "ready-for-handling"
    app_key: str = APP_KEY
    app_token: str = APP_TOKEN
    statuses: dict[str, str] = field(default_factory=dict)
    not_found_calls: dict[str, int] = field(default_factory=dict)  # order -> 404s left (-1 = forever)
    bodies: dict[str, bytes] = field(default_factory=dict)  # order -> 200 body to answer instead of it
    failing: dict[str, int] = field(default_factory=dict)  # order -> error status answered every time
    scripted: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    auth_broken: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    _template: dict[str, Any] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    base_url: str = ""

    def __post_init__(self) -> None:
        self._template = json.loads(EXAMPLE_ORDER.read_text())

    def order(self, order_id: str) -> dict[str, Any]:
        document = copy.deepcopy(self._template)
        document["orderId"] = order_id
        document["status"] = self.statuses.get(order_id, self.default_status)
        return document

    def _order_body(self, order_id: str) -> bytes:
        # A shallow copy is enough (only top-level keys change) and orjson keeps the stub cheap, so
        # benchmarks measure the worker rather than this fake.
        document = dict(self._template)
        document["orderId"] = order_id
        document["status"] = self.statuses.get(order_id, self.default_status)
        return orjson.dumps(document)

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        for _ in range(times):
            self.scripted.append((status, headers or {}))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        order_id = request.match_info["order_id"]
        self.calls[order_id] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if (
                request.headers.get("X-VTEX-API-AppKey") != self.app_key
                or request.headers.get("X-VTEX-API-AppToken") != self.app_token
                or self.auth_broken
            ):
                return _error(403, "The credentials are not enabled to access the service")
            if self.scripted:
                status, headers = self.scripted.popleft()
                return _error(status, "scripted fault", headers)
            if order_id in self.failing:
                return _error(self.failing[order_id], "poisoned order")
            left = self.not_found_calls.get(order_id, 0)
            if left:
                if left > 0:
                    self.not_found_calls[order_id] = left - 1
                return _error(404, "Order not found")
            body = self.bodies.get(order_id)
            if body is None:
                body = self._order_body(order_id)
            return web.Response(body=body, content_type="application/json")
        finally:
            self.in_flight -= 1

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/oms/pvt/orders/{order_id}", self._handle)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": str(status), "message": message, "exception": None}}
    return web.json_response(body, status=status, headers=headers)


@pytest.fixture
async def fake_oms() -> AsyncIterator[FakeOms]:
    """Yield a started FakeOms (import this fixture into a test module to use it)."""
    oms = FakeOms()
    await oms.start()
    try:
        yield oms
    finally:
        await oms.stop()
