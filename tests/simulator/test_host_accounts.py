"""A Host header `{account}.…` selects the account, as VTEX's `{account}.vtexcommercestable.com.br` does.

The Host form serves the same endpoints as the `/accounts/{account}/` prefix over the same account; a
Host in a VTEX domain naming no account served gets the path form's 404; a Host naming no account (an
IP, `localhost`, a service name) leaves the root serving the primary account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from simulator.app import create_app
from simulator.config import SimAccount, SimConfig
from simulator.context import ACCOUNTS
from simulator.hosts import host_label
from simulator.server import SimHandle

Client = TestClient[web.Request, web.Application]
ORDER = "/api/oms/pvt/orders/{}"
STOREB = "storeb.vtexcommercestable.com.br"


def _handles(app: web.Application) -> dict[str, SimHandle]:
    """One handle per account of an app under the test client (no URL: requests go through the client)."""
    accounts = app[ACCOUNTS]
    return {name: SimHandle("", "", 0, sim, accounts) for name, sim in accounts.items()}


def _drive(handle: SimHandle) -> str:
    workload = handle.workload(1, mix={"happy": 1.0})
    for transition in workload.transitions():
        handle.emit(transition)
    (lifecycle,) = workload.lifecycles
    return lifecycle.order_id


@pytest.fixture
async def two(aiohttp_client: Callable[..., Awaitable[Client]]) -> tuple[Client, dict[str, SimHandle]]:
    """A simulator serving `simaccount` (the primary) and `storeb`, behind aiohttp's test client."""
    app = create_app(SimConfig(accounts=(SimAccount.made_up("storeb"),)))
    client = await aiohttp_client(app)
    return client, _handles(app)


async def _get(client: Client, path: str, host: str, auth: dict[str, str] | None = None) -> tuple[int, Any]:
    async with client.get(path, headers={"Host": host, **(auth or {})}) as resp:
        return resp.status, await resp.json()


class TestHostSelects:
    """`{account}.<anything>` reaches that account's orders, credentials and controls."""

    async def test_each_account_by_host(self, two: tuple[Client, dict[str, SimHandle]]) -> None:
        client, handles = two
        primary, storeb = handles["simaccount"], handles["storeb"]
        a, b = _drive(primary), _drive(storeb)
        status, doc = await _get(client, ORDER.format(b), STOREB, storeb.auth_headers())
        assert (200, "storeb") == (status, doc["hostname"])
        status, doc = await _get(
            client, ORDER.format(b), "StoreB.vtexcommercestable.com.br:443", storeb.auth_headers()
        )
        assert (200, "storeb") == (status, doc["hostname"])
        status, doc = await _get(client, ORDER.format(a), "simaccount.example.test", primary.auth_headers())
        assert (200, "simaccount") == (status, doc["hostname"])
        status, _ = await _get(client, ORDER.format(b), STOREB, primary.auth_headers())
        assert 403 == status  # the other account's credentials
        status, _ = await _get(client, ORDER.format(a), STOREB, storeb.auth_headers())
        assert 404 == status  # the primary's order is unknown to storeb

    async def test_controls_feed_and_listing(self, two: tuple[Client, dict[str, SimHandle]]) -> None:
        client, handles = two
        storeb = handles["storeb"]
        async with client.post(
            "/_sim/controls", json={"oms_5xx_rate": 1.0}, headers={"Host": STOREB}
        ) as resp:
            assert 200 == resp.status
        assert 1.0 == storeb.controls.oms_5xx_rate and 0.0 == handles["simaccount"].controls.oms_5xx_rate
        feed = {"queue": {"visibilityTimeoutInSeconds": 60, "messageRetentionPeriodInSeconds": 3600}}
        headers = {"Host": STOREB, **storeb.auth_headers()}
        async with client.post("/api/orders/feed/config", json=feed, headers=headers) as resp:
            assert 200 == resp.status
        order_id = _drive(storeb)
        async with client.get(
            "/accounts/storeb/api/orders/feed?maxlot=10", headers=storeb.auth_headers()
        ) as resp:
            assert {order_id} == {item["orderId"] for item in await resp.json()}  # the path form: same feed
        status, listed = await _get(client, "/_sim/accounts", STOREB)
        assert (200, ["simaccount", "storeb"]) == (status, [a["account"] for a in listed["accounts"]])
        async with client.get("/metrics", headers={"Host": STOREB}) as resp:
            assert 200 == resp.status and "vtex_sim_orders 1.0" in await resp.text()


class TestHostNamingNoAccount:
    """An unknown account in a VTEX domain is refused by name; a Host naming none keeps the root."""

    @pytest.mark.parametrize(
        "host", ["nostore.vtexcommercestable.com.br", "nostore.myvtex.com:443", "nostore.localhost:8090"]
    )
    async def test_unknown_account(self, two: tuple[Client, dict[str, SimHandle]], host: str) -> None:
        client, handles = two
        status, body = await _get(client, ORDER.format("1-01"), host, handles["simaccount"].auth_headers())
        message = body["error"]["message"]
        assert 404 == status
        assert "'nostore'" in message and "Host header" in message and "simaccount, storeb" in message

    @pytest.mark.parametrize(
        "host", ["127.0.0.1:8090", "localhost", "[::1]:8090", "vtex-sim.default.svc.cluster.local"]
    )
    async def test_root_serves_primary(self, two: tuple[Client, dict[str, SimHandle]], host: str) -> None:
        client, handles = two
        primary = handles["simaccount"]
        order_id = _drive(primary)
        status, doc = await _get(client, ORDER.format(order_id), host, primary.auth_headers())
        assert (200, "simaccount") == (status, doc["hostname"])
        status, _ = await _get(
            client, f"/accounts/storeb{ORDER.format(order_id)}", host, primary.auth_headers()
        )
        assert 403 == status  # the path form as before


class TestHostAndPath:
    """Under a Host-selected account the path may name that account; another one is refused."""

    async def test_path_forms(self, two: tuple[Client, dict[str, SimHandle]]) -> None:
        client, handles = two
        storeb = handles["storeb"]
        order_id = _drive(storeb)
        status, doc = await _get(
            client, f"/accounts/storeb{ORDER.format(order_id)}", STOREB, storeb.auth_headers()
        )
        assert (200, "storeb") == (status, doc["hostname"])
        status, body = await _get(client, f"/accounts/simaccount{ORDER.format(order_id)}", STOREB)
        assert 400 == status and "'storeb'" in body["error"]["message"]
        status, body = await _get(client, f"/accounts/nostore{ORDER.format(order_id)}", STOREB)
        assert 404 == status and "'nostore'" in body["error"]["message"]


def test_host_label() -> None:
    assert "storeb" == host_label("storeb.vtexcommercestable.com.br:443")
    assert "localhost" == host_label("localhost")
