"""Contract tests of `/api/orders/hook/config`: validation codes and messages, ping, one hook per appKey."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bridge.settings import SIMULATOR_APP_KEY
from simulator.hook_config import check_hook_url
from simulator.http_util import Reject
from simulator.server import SimHandle
from tests.simulator.conftest import AUTH, BAD_AUTH
from tests.support.sim import HookReceiver, SimFactory

PATH = "/api/orders/hook/config"


def hook_body(url: str, **filter_fields: Any) -> dict[str, Any]:
    flt = filter_fields or {"type": "FromWorkflow", "status": ["handling", "invoiced"]}
    return {"filter": flt, "hook": {"url": url, "headers": {"X-Bridge-Secret": "s3cret"}}}


async def post(
    http: aiohttp.ClientSession, sim: SimHandle, body: Any, headers: dict[str, str] = AUTH
) -> tuple[int, Any]:
    async with http.post(f"{sim.base_url}{PATH}", json=body, headers=headers) as resp:
        return resp.status, await resp.json() if resp.content_length else None


class TestConfigure:
    """POST pings the URL with {"hookConfig":"ping"} and the custom headers, then stores the hook."""

    async def test_round_trip(
        self, sim: SimHandle, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        status, body = await post(http, sim, hook_body(hook_receiver.url))
        assert 200 == status
        assert 1 == len(hook_receiver.pings)
        assert {"hookConfig": "ping"} == hook_receiver.pings[0].body
        assert "s3cret" == hook_receiver.pings[0].headers["X-Bridge-Secret"]
        async with http.get(f"{sim.base_url}{PATH}", headers=AUTH) as resp:
            assert 200 == resp.status
            stored = await resp.json()
        assert body == stored
        assert {"type": "FromWorkflow", "status": ["handling", "invoiced"]} == stored["filter"]
        assert {"url": hook_receiver.url, "headers": {"X-Bridge-Secret": "s3cret"}} == stored["hook"]
        assert SIMULATOR_APP_KEY == stored["origin"]["key"]

    async def test_one_hook_per_app_key(
        self, sim: SimHandle, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        await post(http, sim, hook_body(hook_receiver.url))
        expression = {"type": "FromOrders", "expression": 'status = "handling"', "disableSingleFire": False}
        assert 200 == (await post(http, sim, hook_body(hook_receiver.url, **expression)))[0]
        assert [SIMULATOR_APP_KEY] == list(sim.state.hooks)
        assert expression == sim.state.hooks[SIMULATOR_APP_KEY].matcher.filter.to_json()

    async def test_delete(
        self, sim: SimHandle, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        await post(http, sim, hook_body(hook_receiver.url))
        async with http.delete(f"{sim.base_url}{PATH}", headers=AUTH) as resp:
            assert 200 == resp.status
        async with http.get(f"{sim.base_url}{PATH}", headers=AUTH) as resp:
            assert 404 == resp.status
        async with http.delete(f"{sim.base_url}{PATH}", headers=AUTH) as resp:
            assert 404 == resp.status
            assert "Value not found" == (await resp.json())["error"]["message"]


class TestPing:
    """The configuration is refused with 400 when the ping does not get a 200 in time."""

    @pytest.mark.parametrize("ping_status", [201, 401, 500])
    async def test_ping_not_200(
        self, ping_status: int, sim: SimHandle, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        hook_receiver.ping_status = ping_status
        status, body = await post(http, sim, hook_body(hook_receiver.url))
        assert 400 == status
        assert "Unable to check address" == body["error"]["message"]
        assert {} == sim.state.hooks

    async def test_unreachable(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        status, body = await post(http, sim, hook_body("http://127.0.0.1:9/hook"))
        assert (400, "Unable to check address") == (status, body["error"]["message"])


class TestValidation:
    """Only https (or opted-in loopback http), filter exclusivity (409), credentials (403), bodies (400)."""

    @pytest.mark.parametrize("url", ["http://example.com/hook", "ftp://127.0.0.1/x"])
    async def test_non_https(self, url: str, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        status, body = await post(http, sim, hook_body(url))
        assert (400, "Only https scheme is accepted") == (status, body["error"]["message"])

    async def test_http_loopback_needs_opt_out(
        self, sim_factory: SimFactory, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        strict = await sim_factory(allow_http_hooks=False)
        status, body = await post(http, strict, hook_body(hook_receiver.url))
        assert (400, "Only https scheme is accepted") == (status, body["error"]["message"])
        assert [] == hook_receiver.pings

    @pytest.mark.parametrize(
        "flt",
        [
            {"type": "FromWorkflow", "status": ["handling"], "expression": 'status = "handling"'},
            {"type": "FromOrders", "expression": "true", "disableSingleFire": False, "status": ["handling"]},
        ],
    )
    async def test_mixed_filter(
        self, flt: dict[str, Any], sim: SimHandle, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        status, body = await post(http, sim, hook_body(hook_receiver.url, **flt))
        assert 409 == status
        assert "409" == body["error"]["code"]

    async def test_bad_credentials(
        self, sim: SimHandle, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        assert 403 == (await post(http, sim, hook_body(hook_receiver.url), headers=BAD_AUTH))[0]
        async with http.get(f"{sim.base_url}{PATH}", headers=BAD_AUTH) as resp:
            assert 403 == resp.status
        async with http.delete(f"{sim.base_url}{PATH}", headers=BAD_AUTH) as resp:
            assert 403 == resp.status

    async def test_nothing_configured(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}{PATH}", headers=AUTH) as resp:
            assert 404 == resp.status

    @pytest.mark.parametrize(
        "body",
        [
            [],
            {},
            {"filter": {"type": "FromWorkflow", "status": ["handling"]}},
            {"filter": {"type": "FromWorkflow", "status": ["handling"]}, "hook": {"url": 5}},
            {
                "filter": {"type": "FromWorkflow", "status": ["handling"]},
                "hook": {"url": "https://x/", "headers": []},
            },
            {"filter": {"type": "FromOrders", "expression": "(("}, "hook": {"url": "https://x/"}},
        ],
    )
    async def test_bad_bodies(self, body: Any, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        assert 400 == (await post(http, sim, body))[0]

    async def test_not_json(self, sim: SimHandle, http: aiohttp.ClientSession) -> None:
        async with http.post(f"{sim.base_url}{PATH}", data=b"{nope", headers=AUTH) as resp:
            assert 400 == resp.status
            assert "error" in await resp.json()

    async def test_rate_limited(
        self, sim_factory: SimFactory, http: aiohttp.ClientSession, hook_receiver: HookReceiver
    ) -> None:
        sim = await sim_factory(rate_limit_per_minute=1)
        assert 200 == (await post(http, sim, hook_body(hook_receiver.url)))[0]
        async with http.get(f"{sim.base_url}{PATH}", headers=AUTH) as resp:
            assert 429 == resp.status
            assert "Retry-After" in resp.headers


class TestPlainHttpHosts:
    """Plain http passes for loopback when opted in, and for the host names listed one by one only."""

    def test_a_listed_host_passes_without_the_loopback_opt_in(self) -> None:
        assert "http://ingress:8080/hooks/vtex" == check_hook_url(
            "http://ingress:8080/hooks/vtex", False, ("ingress",)
        )

    @pytest.mark.parametrize(
        "url", ["http://ingress.evil.example/h", "http://worker:8080/h", "http://10.0.0.5/h"]
    )
    def test_any_other_host_stays_https_only(self, url: str) -> None:
        with pytest.raises(Reject):
            check_hook_url(url, True, ("ingress",))
