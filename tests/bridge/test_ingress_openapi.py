"""The OpenAPI document says what the running service does: every documented answer is produced, in shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from bridge.ingress.app import create_app, create_metrics_app
from bridge.kafka_producer import ProduceFailed, ProducerUnavailable, ProduceTimeout
from bridge.validation import validate
from tests.support.ingress import (
    ACCOUNT,
    APP_KEY,
    HEADER,
    SECRET,
    FakeProducer,
    auth_headers,
    hook_payload,
    ingress_settings,
    openapi_document,
    response_schema_errors,
)

HOOK = "/hooks/vtex"
JSON = {"Content-Type": "application/json"}


async def hook_client(
    aiohttp_client: Any, producer: FakeProducer | None = None, **overrides: Any
) -> TestClient[Any, Any]:
    settings = ingress_settings(ingress_body_timeout_s=0.2, **overrides)
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(settings, producer=producer or FakeProducer())
    )
    return client


async def slow_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    yield b'{"OrderId": '
    await asyncio.wait_for(release.wait(), 10)  # the server answers 408 long before this is released


Scenario = Callable[[Any], Awaitable[ClientResponse]]


def hook_scenarios() -> dict[str, tuple[int, Scenario]]:
    """Return one request per documented answer of POST /hooks/vtex."""

    async def post(aiohttp_client: Any, body: Any, headers: dict[str, str], **kwargs: Any) -> ClientResponse:
        client = await hook_client(aiohttp_client, **kwargs)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return await client.post(HOOK, data=data, headers=headers)

    async def failing(aiohttp_client: Any, error: Exception) -> ClientResponse:
        client = await hook_client(aiohttp_client, FakeProducer(error=error))
        return await client.post(HOOK, data=orjson.dumps(hook_payload()), headers=auth_headers())

    async def slow(aiohttp_client: Any) -> ClientResponse:
        client = await hook_client(aiohttp_client)
        release = asyncio.Event()
        try:
            return await client.post(HOOK, data=slow_body(release), headers=auth_headers())
        finally:
            release.set()

    return {
        "accepted": (200, lambda c: post(c, hook_payload(), auth_headers())),
        "ping": (200, lambda c: post(c, {"hookConfig": "ping"}, {})),
        "invalid_json": (400, lambda c: post(c, b"{", auth_headers())),
        "bad_secret": (401, lambda c: post(c, hook_payload(), auth_headers("nope"))),
        "bad_origin": (
            401,
            lambda c: post(c, hook_payload(Origin={"Account": "x", "Key": "y"}), auth_headers()),
        ),
        "slow_body": (408, slow),
        "too_large": (413, lambda c: post(c, hook_payload(Pad="x" * 20_000), auth_headers())),
        "media_type": (
            415,
            lambda c: post(c, hook_payload(), {HEADER: SECRET, "Content-Type": "text/plain"}),
        ),
        "schema": (422, lambda c: post(c, hook_payload(OrderId=""), auth_headers())),
        "overloaded": (503, lambda c: post(c, hook_payload(), auth_headers(), ingress_max_in_flight=0)),
        "kafka_unavailable": (503, lambda c: failing(c, ProducerUnavailable("down"))),
        "kafka_timeout": (503, lambda c: failing(c, ProduceTimeout("slow"))),
        "kafka_failed": (503, lambda c: failing(c, ProduceFailed("no"))),
    }


SCENARIOS = hook_scenarios()


class TestHookAnswersMatchTheDocument:
    """Each answer of the hook endpoint has a documented status and validates against its schema."""

    @pytest.mark.parametrize("name", sorted(SCENARIOS))
    async def test_answer(self, aiohttp_client: Any, name: str) -> None:
        status, scenario = SCENARIOS[name]
        response = await scenario(aiohttp_client)
        body = await response.json()
        assert status == response.status, body
        assert [] == response_schema_errors(
            HOOK, "post", response.status, body, response.headers["Content-Type"]
        )
        documented = openapi_document()["paths"][HOOK]["post"]["responses"][str(status)]
        for header, spec in documented.get("headers", {}).items():
            if spec.get("required"):
                assert header in response.headers

    def test_every_documented_status_is_exercised(self) -> None:
        documented = {int(s) for s in openapi_document()["paths"][HOOK]["post"]["responses"]}
        assert documented == {status for status, _ in SCENARIOS.values()}


class TestProbesMatchTheDocument:
    """healthz, readyz (both answers) and metrics answer as documented."""

    @pytest.mark.parametrize(
        ("path", "producer", "status"),
        [
            ("/healthz", FakeProducer(), 200),
            ("/readyz", FakeProducer(), 200),
            ("/readyz", FakeProducer(connected_flag=False), 503),
            ("/metrics", FakeProducer(), 200),
        ],
    )
    async def test_probe(self, aiohttp_client: Any, path: str, producer: FakeProducer, status: int) -> None:
        client = await hook_client(aiohttp_client, producer)
        if path == "/metrics":  # served by the metrics app, on its own port (the document's path server)
            client = await aiohttp_client(create_metrics_app(client.app))
        response = await client.get(path)
        content_type = response.headers["Content-Type"]
        body = await response.json() if content_type.startswith("application/json") else await response.text()
        assert status == response.status
        assert [] == response_schema_errors(path, "get", status, body, content_type)


class TestExamples:
    """The document's request examples are valid, and its hook example is accepted (with our Origin)."""

    async def test_examples(self, aiohttp_client: Any) -> None:
        examples = openapi_document()["paths"][HOOK]["post"]["requestBody"]["content"]["application/json"][
            "examples"
        ]
        hook = examples["hook"]["value"]
        validate("hook-notification", hook)
        client = await hook_client(aiohttp_client)
        ours = {**hook, "Origin": {"Account": ACCOUNT, "Key": APP_KEY}}
        assert 200 == (await client.post(HOOK, data=orjson.dumps(ours), headers=auth_headers())).status
        assert (
            200
            == (await client.post(HOOK, data=orjson.dumps(examples["ping"]["value"]), headers=JSON)).status
        )
