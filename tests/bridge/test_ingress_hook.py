"""Unit tests of the hook endpoint: auth, ping, validation, produce outcomes (fake producer, no broker)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.events import compute_event_id, decode_input_event
from bridge.ingress.app import create_app
from bridge.kafka_producer import ProduceFailed, ProducerUnavailable, ProduceTimeout
from bridge.settings import Settings
from tests.support.ingress import (
    ACCOUNT,
    APP_KEY,
    HEADER,
    PREVIOUS_SECRET,
    SECRET,
    FakeProducer,
    auth_headers,
    hook_payload,
    ingress_settings,
    metrics_text,
)

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
PATH = "/hooks/vtex"


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def settings() -> Settings:
    return ingress_settings()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, settings: Settings, producer: FakeProducer
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, producer=producer))


async def post(
    client: TestClient[Any, Any], body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(PATH, data=data, headers=auth_headers() if headers is None else headers)
    return response.status, await response.json()


class TestAccepted:
    """A valid, authenticated hook is produced keyed by OrderId and answered 200 with its event_id."""

    async def test_produces_the_event(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        payload = hook_payload()
        status, body = await post(client, payload)
        event_id = compute_event_id(payload["OrderId"], payload["State"], payload["LastChange"])
        assert 200 == status
        assert {"status": "accepted", "event_id": event_id} == {k: body[k] for k in ("status", "event_id")}
        [record] = producer.records
        assert "vtex.orders.hooks" == record.topic
        assert payload["OrderId"].encode() == record.key
        event = decode_input_event(record.value)
        assert {**payload, "Origin": {"Account": ACCOUNT}} == dict(event.payload)  # the appKey is not copied
        assert APP_KEY.encode() not in record.value
        assert (event_id, "hook", ACCOUNT) == (event.event_id, event.source, event.account)
        assert ("event_id", event_id.encode()) in record.headers

    async def test_previous_secret_still_accepted(self, client: TestClient[Any, Any]) -> None:
        status, _ = await post(client, hook_payload(), auth_headers(PREVIOUS_SECRET))
        assert 200 == status

    @pytest.mark.parametrize("state", ["", None, "null", "some-future-status"])
    async def test_unknown_states_are_accepted(
        self, client: TestClient[Any, Any], producer: FakeProducer, state: str | None
    ) -> None:
        status, _ = await post(client, hook_payload(state=state))
        assert 200 == status
        assert 1 == len(producer.records)

    async def test_charset_in_content_type_is_fine(self, client: TestClient[Any, Any]) -> None:
        headers = {HEADER: SECRET, "Content-Type": "application/json; charset=utf-8"}
        status, _ = await post(client, hook_payload(), headers)
        assert 200 == status

    async def test_header_name_is_case_insensitive(self, client: TestClient[Any, Any]) -> None:
        status, _ = await post(client, hook_payload(), auth_headers(header=HEADER.lower()))
        assert 200 == status


class TestPing:
    """VTEX's configuration ping gets 200 and produces nothing, with or without the secret header."""

    async def test_authenticated_ping(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        assert (200, {"status": "pong"}) == await post(client, {"hookConfig": "ping"})
        assert [] == producer.records

    async def test_ping_without_header(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        assert (200, {"status": "pong"}) == await post(client, {"hookConfig": "ping"}, {})
        assert [] == producer.records

    async def test_ping_can_require_the_secret(
        self, aiohttp_client: ClientFactory, producer: FakeProducer
    ) -> None:
        client = await aiohttp_client(
            create_app(ingress_settings(ingress_ping_requires_secret=True), producer=producer)
        )
        status, body = await post(client, {"hookConfig": "ping"}, {"Content-Type": "application/json"})
        assert (401, "unauthorized") == (status, body["error"])
        assert (200, {"status": "pong"}) == await post(client, {"hookConfig": "ping"})


class TestAuthentication:
    """Without the right header secret and Origin the answer is 401, naming no secret, producing nothing."""

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Content-Type": "application/json"},
            auth_headers("wrong"),
            auth_headers(""),
            auth_headers(SECRET + "x"),
            auth_headers(SECRET, header="X-Other"),
        ],
    )
    async def test_bad_header(
        self, client: TestClient[Any, Any], producer: FakeProducer, headers: dict[str, str]
    ) -> None:
        status, body = await post(client, hook_payload(), headers)
        assert (401, "unauthorized") == (status, body["error"])
        assert SECRET not in orjson.dumps(body).decode()
        assert [] == producer.records

    @pytest.mark.parametrize(
        "origin",
        [
            {"Account": "other", "Key": APP_KEY},
            {"Account": ACCOUNT, "Key": "vtexappkey-other"},
            {"Account": ACCOUNT},
            {"Account": ACCOUNT, "Key": 5},
            "acme",
            None,
        ],
    )
    async def test_bad_origin(
        self, client: TestClient[Any, Any], producer: FakeProducer, origin: Any
    ) -> None:
        status, body = await post(client, hook_payload(Origin=origin))
        assert (401, "unauthorized") == (status, body["error"])
        assert [] == producer.records

    async def test_missing_origin(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        payload = hook_payload()
        del payload["Origin"]
        status, _ = await post(client, payload)
        assert 401 == status
        assert [] == producer.records

    async def test_unauthenticated_garbage_is_401_not_400(self, client: TestClient[Any, Any]) -> None:
        status, body = await post(client, b"{not json", {"Content-Type": "application/json"})
        assert (401, "unauthorized") == (status, body["error"])

    async def test_unauthenticated_big_body_is_401(self, client: TestClient[Any, Any]) -> None:
        status, _ = await post(client, b"x" * 100_000, {"Content-Type": "application/json"})
        assert 401 == status

    async def test_failures_are_counted(self, client: TestClient[Any, Any]) -> None:
        await post(client, hook_payload(), auth_headers("wrong"))
        await post(client, hook_payload(), {})
        text = await metrics_text(client.app)
        assert 'vtex_bridge_ingress_auth_failures_total{reason="bad_secret"} 1.0' in text
        assert 'vtex_bridge_ingress_auth_failures_total{reason="missing_header"} 1.0' in text
        assert 'vtex_bridge_ingress_requests_total{outcome="unauthorized"} 2.0' in text
        assert SECRET not in text

    async def test_failures_are_logged_without_secrets(
        self, client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level("DEBUG"):
            await post(client, hook_payload(), auth_headers(PREVIOUS_SECRET + "-nope"))
        messages = [r for r in caplog.records if r.getMessage() == "hook unauthorized"]
        assert 1 == len(messages)
        assert "bad_secret" == messages[0].__dict__["reason"]
        for record in caplog.records:
            dumped = str(record.__dict__)
            assert SECRET not in dumped and PREVIOUS_SECRET not in dumped


class TestValidation:
    """Bad input gets a clear 4xx naming the field and nothing is produced."""

    @pytest.mark.parametrize(
        ("mutation", "field"),
        [
            ({"OrderId": 123}, "OrderId"),
            ({"OrderId": ""}, "OrderId"),
            ({"State": 5}, "State"),
            ({"LastChange": "yesterday"}, "LastChange"),
            ({"Domain": ["x"]}, "Domain"),
            ({"CurrentChange": 1}, "CurrentChange"),
        ],
    )
    async def test_wrong_types(
        self, client: TestClient[Any, Any], producer: FakeProducer, mutation: dict[str, Any], field: str
    ) -> None:
        status, body = await post(client, hook_payload(**mutation))
        assert (422, "schema_violation", field) == (status, body["error"], body["field"])
        assert [] == producer.records

    @pytest.mark.parametrize(
        "last_change", ["2019-12-31T23:59:60Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00"]
    )
    async def test_schema_valid_but_impossible_instants(
        self, client: TestClient[Any, Any], producer: FakeProducer, last_change: str
    ) -> None:
        status, body = await post(client, hook_payload(LastChange=last_change))
        assert (422, "schema_violation", "LastChange") == (status, body["error"], body["field"])
        assert [] == producer.records

    @pytest.mark.parametrize("missing", ["Domain", "OrderId", "State", "LastChange"])
    async def test_missing_fields(
        self, client: TestClient[Any, Any], producer: FakeProducer, missing: str
    ) -> None:
        payload = hook_payload()
        del payload[missing]
        status, body = await post(client, payload)
        assert (422, missing) == (status, body["field"])
        assert [] == producer.records

    async def test_malformed_json(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        status, body = await post(client, b'{"OrderId": ')
        assert (400, "invalid_json", "$") == (status, body["error"], body["field"])
        assert [] == producer.records

    async def test_not_an_object(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        status, _ = await post(client, [hook_payload()])
        assert 401 == status  # a list carries no Origin: it cannot be authenticated
        assert [] == producer.records

    async def test_wrong_content_type(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        status, body = await post(client, hook_payload(), {HEADER: SECRET, "Content-Type": "text/plain"})
        assert (415, "unsupported_media_type") == (status, body["error"])
        assert [] == producer.records

    async def test_oversized_body(self, client: TestClient[Any, Any], producer: FakeProducer) -> None:
        status, body = await post(client, hook_payload(Padding="x" * 20_000))
        assert (413, "payload_too_large") == (status, body["error"])
        assert [] == producer.records


class TestProduceTrouble:
    """When Kafka does not acknowledge, the hook gets 503 with Retry-After, never 200."""

    @pytest.mark.parametrize(
        ("error", "code"),
        [
            (ProducerUnavailable("down"), "kafka_unavailable"),
            (ProduceTimeout("slow"), "kafka_timeout"),
            (ProduceFailed("rejected"), "kafka_failed"),
            (RuntimeError("a bug"), "kafka_failed"),
        ],
    )
    async def test_503(self, aiohttp_client: ClientFactory, error: BaseException, code: str) -> None:
        client = await aiohttp_client(create_app(ingress_settings(), producer=FakeProducer(error=error)))
        response = await client.post(PATH, data=orjson.dumps(hook_payload()), headers=auth_headers())
        assert (503, code, "1") == (
            response.status,
            (await response.json())["error"],
            response.headers["Retry-After"],
        )

    async def test_overload_is_503(self, aiohttp_client: ClientFactory) -> None:
        client = await aiohttp_client(
            create_app(ingress_settings(ingress_max_in_flight=0), producer=FakeProducer())
        )
        status, body = await post(client, hook_payload())
        assert (503, "overloaded") == (status, body["error"])
