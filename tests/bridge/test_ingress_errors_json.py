"""Every error the ingress answers is JSON, including aiohttp's own 404 and 405."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.ingress.app import create_app
from tests.support.ingress import FakeProducer, ingress_settings


class TestJsonErrors:
    """Unknown paths and wrong methods get the same JSON error shape as the hook endpoint."""

    async def test_unknown_path_and_wrong_method(
        self, aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
    ) -> None:
        client = await aiohttp_client(create_app(ingress_settings(), producer=FakeProducer()))
        missing = await client.get("/nope")
        assert 404 == missing.status
        assert "application/json" == missing.content_type
        assert "not_found" == (await missing.json())["error"]
        wrong = await client.get("/hooks/vtex")
        assert 405 == wrong.status
        assert "method_not_allowed" == (await wrong.json())["error"]
        assert "POST" in wrong.headers["Allow"]
