"""Unit tests of the OMS client against the fake OMS over real loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bridge.vtex.errors import InvalidOrderId, OmsAuthError, OmsBadResponse, OmsUnavailable, OrderNotFound
from bridge.vtex.http import path_with, vtex_url
from bridge.vtex.oms import ORDER_PATH, OmsClient, parse_retry_after
from testkit.fake_oms import APP_KEY, APP_TOKEN, FakeOms


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[str] = []
        self.waits: list[float] = []

    def on_oms_response(self, status: str, latency_s: float) -> None:
        self.statuses.append(status)

    def on_oms_throttle_wait(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def oms() -> AsyncIterator[FakeOms]:
    fake = FakeOms()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def client(oms: FakeOms, observer: Recorder | None = None, **overrides: object) -> OmsClient:
    options: dict[str, object] = {
        "base_url": oms.base_url,
        "app_key": APP_KEY,
        "app_token": APP_TOKEN,
        "rate_limit_per_s": 1000.0,
        "timeout_s": 2.0,
        "max_attempts": 4,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "observer": observer,
    }
    options.update(overrides)
    return OmsClient(**options)  # type: ignore[arg-type]


class TestGetOrder:
    """The client returns the order document and sorts failures by what the caller should do."""

    async def test_returns_the_order(self, oms: FakeOms) -> None:
        oms.statuses["o-1"] = "invoiced"
        async with client(oms) as c:
            order = await c.get_order("o-1")
        assert ("o-1", "invoiced") == (order["orderId"], order["status"])

    async def test_retries_5xx_then_succeeds(self, oms: FakeOms) -> None:
        oms.fail_next(503, times=2)
        recorder = Recorder()
        async with client(oms, recorder) as c:
            order = await c.get_order("o-2")
        assert "o-2" == order["orderId"]
        assert ["503", "503", "200"] == recorder.statuses

    async def test_gives_up_after_bounded_attempts(self, oms: FakeOms) -> None:
        oms.fail_next(500, times=10)
        async with client(oms) as c:
            with pytest.raises(OmsUnavailable):
                await c.get_order("o-3")
        assert 4 == oms.calls["o-3"]

    async def test_429_waits_retry_after_for_every_caller(self, oms: FakeOms) -> None:
        oms.fail_next(429, headers={"Retry-After": "0.3"})
        recorder = Recorder()
        async with client(oms, recorder) as c:
            started = time.monotonic()
            await c.get_order("o-4")
            elapsed = time.monotonic() - started
        assert elapsed >= 0.3
        assert ["429", "200"] == recorder.statuses

    async def test_404_is_not_retried(self, oms: FakeOms) -> None:
        oms.not_found_calls["o-5"] = -1
        async with client(oms) as c:
            with pytest.raises(OrderNotFound):
                await c.get_order("o-5")
        assert 1 == oms.calls["o-5"]

    async def test_403_is_an_auth_error(self, oms: FakeOms) -> None:
        oms.auth_broken = True
        async with client(oms) as c:
            with pytest.raises(OmsAuthError):
                await c.get_order("o-6")

    async def test_wrong_token_is_an_auth_error(self, oms: FakeOms) -> None:
        async with client(oms, app_token="wrong") as c:
            with pytest.raises(OmsAuthError):
                await c.get_order("o-7")

    async def test_other_4xx_is_permanent(self, oms: FakeOms) -> None:
        oms.fail_next(400)
        async with client(oms) as c:
            with pytest.raises(OmsBadResponse):
                await c.get_order("o-8")
        assert 1 == oms.calls["o-8"]

    @pytest.mark.parametrize(
        ("body", "why"),
        [
            (b"<html>maintenance</html>", "TAPE_ERROR"),
            (b'{"orderId": "o-10", "status": "invoiced"', "TAPE_ERROR"),
            (b'[{"orderId": "o-10"}]', "a JSON array, not an object"),
            (b'"o-10"', "a JSON string, not an object"),
            (b'{"orderId": "o-10", "x": "\xff"}', "UTF8_ERROR"),
            (b"", "EMPTY"),
        ],
    )
    async def test_a_200_without_an_order_object_is_a_bad_response(
        self, oms: FakeOms, body: bytes, why: str
    ) -> None:
        oms.bodies["o-10"] = body
        async with client(oms) as c:
            with pytest.raises(OmsBadResponse, match=f"no order object for o-10: .*{why}"):
                await c.get_order("o-10")
        assert 1 == oms.calls["o-10"]  # permanent: not retried

    async def test_timeout_is_retried_then_unavailable(self, oms: FakeOms) -> None:
        oms.latency_s = 0.5
        async with client(oms, timeout_s=0.1, max_attempts=2) as c:
            with pytest.raises(OmsUnavailable):
                await c.get_order("o-9")
        assert 2 == oms.calls["o-9"]

    async def test_rate_limit_spaces_calls(self, oms: FakeOms) -> None:
        async with client(oms, rate_limit_per_s=20.0) as c:
            started = time.monotonic()
            for i in range(40):
                await c.get_order(f"r-{i}")
            elapsed = time.monotonic() - started
        # 20 fit in the first second's bucket; the other 20 need about one more second.
        assert elapsed >= 0.8


class TestRetryAfter:
    """Retry-After is read as seconds, capped, and ignored when unusable."""

    def test_parses(self) -> None:
        assert [2.0, 60.0, None, None, None] == [
            parse_retry_after("2"),
            parse_retry_after("3600"),
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            parse_retry_after(None),
            parse_retry_after("-1"),
        ]


class TestOrderIdInTheUrl:
    """An id never steers the authenticated call: invalid ids are refused, every segment is encoded."""

    @pytest.mark.parametrize(
        "order_id",
        ["../../../../api/catalog_system/pvt/products/GetProductById/1?x", "v1-01#x", "v1-01?a=1", ".."],
    )
    async def test_invalid_ids_are_refused_without_a_call(self, oms: FakeOms, order_id: str) -> None:
        async with client(oms) as c:
            with pytest.raises(InvalidOrderId) as caught:
                await c.get_order(order_id)
            assert 0 == c.calls
        assert isinstance(caught.value, OmsBadResponse)  # permanent: the processor dead-letters it
        assert not oms.calls

    @pytest.mark.parametrize("order_id", ["SLR-1234567890123-01", "v70530116str-01", "seq501456", "a_b.c-01"])
    async def test_valid_ids_reach_oms_unchanged(self, oms: FakeOms, order_id: str) -> None:
        async with client(oms) as c:
            order = await c.get_order(order_id)
        assert order_id == order["orderId"]
        assert 1 == oms.calls[order_id]

    def test_segments_are_percent_encoded_and_sent_as_is(self) -> None:
        path = path_with(ORDER_PATH, order_id="../x?y#z%2E/")
        assert "/api/oms/pvt/orders/..%2Fx%3Fy%23z%252E%2F" == path
        url = vtex_url("https://acme.vtexcommercestable.com.br/", path)
        assert (path, "", "") == (url.raw_path, url.query_string, url.fragment)
