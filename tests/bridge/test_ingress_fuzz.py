"""Property tests of the hook endpoint: whatever the body and headers, never a 5xx, never a bad record.

One app serves every example (hypothesis reruns the test body, not the fixtures); each example checks
that a record was produced exactly when the answer was 200, and that the record is the body it got.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.events import decode_input_event
from bridge.ingress.app import create_app
from bridge.validation import SchemaViolation, validate
from tests.support.ingress import HEADER, SECRET, FakeProducer, hook_payload, ingress_settings

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIELDS = ("Domain", "OrderId", "State", "LastState", "LastChange", "CurrentChange", "Origin")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
async def client(aiohttp_client: Any, producer: FakeProducer) -> TestClient[Any, Any]:
    app = create_app(ingress_settings(ingress_max_body_bytes=2048), producer=producer)
    test_client: TestClient[Any, Any] = await aiohttp_client(app)
    return test_client


async def check(
    client: TestClient[Any, Any], producer: FakeProducer, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    before = len(producer.records)
    response = await client.post("/hooks/vtex", data=body, headers=headers)
    answer = await response.json()
    produced = producer.records[before:]
    assert response.status < 500, answer
    if response.status == 200 and answer.get("status") == "accepted":
        [record] = produced
        sent = json.loads(body)
        sent["Origin"] = {k: v for k, v in sent["Origin"].items() if k != "Key"}  # the appKey is not copied
        assert sent == dict(decode_input_event(record.value).payload)
        assert answer["event_id"] == decode_input_event(record.value).event_id
    else:
        assert [] == produced
        assert isinstance(answer, dict) and ("error" in answer or answer == {"status": "pong"})
    return response.status, answer


class TestArbitraryBodies:
    """Random bytes and random JSON with a valid secret are refused cleanly."""

    @FUZZ
    @given(body=st.binary(max_size=3000))
    async def test_bytes(self, client: TestClient[Any, Any], producer: FakeProducer, body: bytes) -> None:
        status, _ = await check(client, producer, body, {HEADER: SECRET, "Content-Type": "application/json"})
        assert status in {200, 400, 401, 413, 422}

    @FUZZ
    @given(value=json_values)
    async def test_json(self, client: TestClient[Any, Any], producer: FakeProducer, value: Any) -> None:
        await check(
            client, producer, json.dumps(value).encode(), {HEADER: SECRET, "Content-Type": "application/json"}
        )


class TestMutatedHooks:
    """A valid hook with fields replaced or removed is produced iff it still matches the schema."""

    @FUZZ
    @given(
        replaced=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
        removed=st.sets(st.sampled_from(FIELDS), max_size=2),
    )
    async def test_mutations(
        self,
        client: TestClient[Any, Any],
        producer: FakeProducer,
        replaced: dict[str, Any],
        removed: set[str],
    ) -> None:
        payload = hook_payload(**replaced)
        for name in removed:
            payload.pop(name, None)
        status, _ = await check(
            client,
            producer,
            json.dumps(payload).encode(),
            {HEADER: SECRET, "Content-Type": "application/json"},
        )
        try:
            validate("hook-notification", payload)
            valid = True
        except SchemaViolation:
            valid = False
        origin_ok = payload.get("Origin") == hook_payload()["Origin"]
        assert (status == 200) == (valid and origin_ok)


class TestArbitraryHeaders:
    """Random headers and content types never pass authentication by accident and never crash."""

    @FUZZ
    @given(
        headers=st.dictionaries(
            st.sampled_from([HEADER, HEADER.lower(), "Content-Type", "X-Other", "Origin"])
            | header_text.filter(lambda s: s.strip() != "" and ":" not in s and s.isidentifier()),
            header_text,
            max_size=4,
        )
    )
    async def test_headers(
        self, client: TestClient[Any, Any], producer: FakeProducer, headers: dict[str, str]
    ) -> None:
        status, _ = await check(client, producer, orjson.dumps(hook_payload()), headers)
        secret = {k.lower(): v for k, v in headers.items()}.get(HEADER.lower())
        if secret != SECRET:
            assert 401 == status

    @FUZZ
    @given(content_type=header_text)
    @example(content_type=";0*")  # aiohttp's parser raised IndexError on it: was a 500
    async def test_content_types(
        self, client: TestClient[Any, Any], producer: FakeProducer, content_type: str
    ) -> None:
        status, _ = await check(
            client, producer, orjson.dumps(hook_payload()), {HEADER: SECRET, "Content-Type": content_type}
        )
        assert status in {200, 415}


class TestTimestamps:
    """Any date-time-shaped LastChange/CurrentChange is answered 200 or 422, never 5xx."""

    @FUZZ
    @given(
        last_change=st.from_regex(
            r"\A\d{4}-\d{2}-\d{2}[tT]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([zZ]|[+-]\d{2}:?\d{2})\Z"
        ),
        current_change=st.none() | st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z\Z"),
    )
    async def test_date_times(
        self,
        client: TestClient[Any, Any],
        producer: FakeProducer,
        last_change: str,
        current_change: str | None,
    ) -> None:
        payload = hook_payload(LastChange=last_change, CurrentChange=current_change)
        status, _ = await check(
            client,
            producer,
            json.dumps(payload).encode(),
            {HEADER: SECRET, "Content-Type": "application/json"},
        )
        assert status in {200, 422}
