"""One simulator process serves several VTEX accounts under `/accounts/{account}/`, each a whole account.

Each account has its own credentials, orders (other ids, documents naming the account), rate limit,
hook, feed and chaos knobs; the root keeps serving the primary account, which `/accounts/{primary}/`
reaches too, so one base-URL template serves every account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bridge.cli.commands.sim import with_accounts
from simulator.config import SimAccount, SimConfig
from simulator.server import SimHandle
from tests.support.sim import HookReceiver, SimFactory

FEED = {"queue": {"visibilityTimeoutInSeconds": 60, "messageRetentionPeriodInSeconds": 3600}}
EVERY_CHANGE = {"type": "FromOrders", "expression": "$exists(orderId)", "disableSingleFire": True}


def _drive(sim: SimHandle, orders: int = 1) -> list[str]:
    workload = sim.workload(orders, mix={"happy": 1.0})
    for transition in workload.transitions():
        sim.emit(transition)
    return [lc.order_id for lc in workload.lifecycles]


@pytest.fixture
async def second_receiver() -> AsyncIterator[HookReceiver]:
    """A second recording hook endpoint (another URL than `hook_receiver`'s)."""
    receiver = HookReceiver()
    app = web.Application()
    app.router.add_post("/other-hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    receiver.url = f"http://127.0.0.1:{port}/other-hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def _post(http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> int:
    async with http.post(url, json=body, headers=headers) as resp:
        await resp.read()
        return resp.status


class TestAccountsServed:
    """`/_sim/accounts` lists the accounts; the primary is served at the root and by prefix alike."""

    async def test_listing_and_prefixes(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(accounts=(SimAccount.made_up("storeb"),))
        async with http.get(f"{sim.root_url}/_sim/accounts") as resp:
            listed = (await resp.json())["accounts"]
        assert [sim.config.account, "storeb"] == [a["account"] for a in listed]
        assert ["/accounts/simaccount", "/accounts/storeb"] == [a["path"] for a in listed]
        assert sim.base_url_template.format(account="storeb") == sim.account("storeb").base_url
        (order_id,) = _drive(sim)
        for base in (sim.base_url, sim.account(sim.config.account).base_url):
            async with http.get(f"{base}/api/oms/pvt/orders/{order_id}", headers=sim.auth_headers()) as resp:
                assert 200 == resp.status

    async def test_unknown_account_named(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(accounts=(SimAccount.made_up("storeb"),))
        async with http.get(f"{sim.root_url}/accounts/nostore/api/oms/pvt/orders/1-01") as resp:
            assert 404 == resp.status
            message = (await resp.json())["error"]["message"]
        assert "'nostore'" in message and "storeb" in message
        with pytest.raises(KeyError, match="nostore"):
            sim.account("nostore")


class TestOwnCredentialsAndOrders:
    """An account answers its own appKey only; its orders are its own, with documents naming it."""

    async def test_credentials(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(accounts=(SimAccount.made_up("storeb"),))
        storeb = sim.account("storeb")
        (order_id,) = _drive(storeb)
        url = f"{storeb.base_url}/api/oms/pvt/orders/{order_id}"
        async with http.get(url, headers=storeb.auth_headers()) as resp:
            assert 200 == resp.status
        async with http.get(url, headers=sim.auth_headers()) as resp:  # the primary's key: another account
            assert 403 == resp.status
        async with http.get(
            f"{sim.base_url}/api/oms/pvt/orders/{order_id}", headers=storeb.auth_headers()
        ) as resp:
            assert 403 == resp.status

    async def test_documents_differ(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(
            accounts=(SimAccount.made_up("storeb"), SimAccount("storec", "kc", "tc", seed=42))
        )
        primary, storeb, storec = sim.each_account()
        (a,), (b,), (c,) = _drive(primary), _drive(storeb), _drive(storec)
        assert a != b and a == c  # a derived seed gives other orders; an explicit equal seed the same ids
        docs = {}
        for handle, order_id in ((primary, a), (storeb, b), (storec, c)):
            async with http.get(
                f"{handle.base_url}/api/oms/pvt/orders/{order_id}", headers=handle.auth_headers()
            ) as resp:
                docs[handle.config.account] = await resp.json()
        assert docs["storeb"]["hostname"] == "storeb" and docs["simaccount"]["hostname"] == "simaccount"
        assert docs["storec"]["hostname"] == "storec"
        assert docs["storec"]["orderId"] == docs["simaccount"]["orderId"]
        assert docs["storec"]["marketplace"] != docs["simaccount"]["marketplace"]
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/{b}", headers=sim.auth_headers()) as resp:
            assert 404 == resp.status  # account storeb's order is unknown to the primary account


class TestOwnHookAndFeed:
    """Each account notifies its own hook URL with its own headers and Origin; feeds are per account."""

    async def test_hooks(
        self,
        sim_factory: SimFactory,
        http: aiohttp.ClientSession,
        hook_receiver: HookReceiver,
        second_receiver: HookReceiver,
    ) -> None:
        sim = await sim_factory(accounts=(SimAccount.made_up("storeb"),))
        storeb = sim.account("storeb")
        for handle, receiver, secret in ((sim, hook_receiver, "a"), (storeb, second_receiver, "b")):
            body = {"filter": EVERY_CHANGE, "hook": {"url": receiver.url, "headers": {"X-Secret": secret}}}
            url = f"{handle.base_url}/api/orders/hook/config"
            assert 200 == await _post(http, url, body, handle.auth_headers())
        _drive(sim)
        _drive(storeb, 2)
        await sim.sender.drain(timeout=10)
        await storeb.sender.drain(timeout=10)
        first = {(b["Origin"]["Account"], b["Origin"]["Key"]) for b in hook_receiver.accepted_bodies()}
        second = {(b["Origin"]["Account"], b["Origin"]["Key"]) for b in second_receiver.accepted_bodies()}
        assert {(sim.config.account, sim.config.app_key)} == first
        assert {("storeb", storeb.config.app_key)} == second
        assert {"b"} == {r.headers["X-Secret"] for r in second_receiver.received}
        assert 2 * 10 == len(second_receiver.accepted_bodies()) and 10 == len(hook_receiver.accepted_bodies())

    async def test_feeds(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        sim = await sim_factory(accounts=(SimAccount.made_up("storeb"),))
        storeb = sim.account("storeb")
        url = f"{storeb.base_url}/api/orders/feed/config"
        assert 200 == await _post(http, url, FEED, storeb.auth_headers())
        (order_id,) = _drive(storeb)
        _drive(sim)
        async with http.get(
            f"{storeb.base_url}/api/orders/feed?maxlot=10", headers=storeb.auth_headers()
        ) as resp:
            items = await resp.json()
        assert 10 == len(items) and {order_id} == {i["orderId"] for i in items}
        async with http.get(f"{sim.base_url}/api/orders/feed?maxlot=10", headers=sim.auth_headers()) as resp:
            assert 404 == resp.status  # the primary account configured no feed


class TestPerAccountLimitsAndControls:
    """Rate limits and chaos knobs belong to one account: one account's OMS down leaves the others up."""

    async def test_oms_down_for_one_account(
        self, sim_factory: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = await sim_factory(accounts=(SimAccount.made_up("storeb"),))
        storeb = sim.account("storeb")
        async with http.post(f"{storeb.base_url}/_sim/controls", json={"oms_5xx_rate": 1.0}) as resp:
            assert 1.0 == (await resp.json())["oms_5xx_rate"]
        assert 0.0 == sim.controls.oms_5xx_rate
        (a,), (b,) = _drive(sim), _drive(storeb)
        async with http.get(f"{sim.base_url}/api/oms/pvt/orders/{a}", headers=sim.auth_headers()) as resp:
            assert 200 == resp.status
        url = f"{storeb.base_url}/api/oms/pvt/orders/{b}"
        async with http.get(url, headers=storeb.auth_headers()) as resp:
            assert resp.status in (500, 503)
        async with http.get(f"{storeb.base_url}/_sim/stats") as resp:
            assert 1 == (await resp.json())["counters"]["oms_5xx"]

    async def test_rate_limit_per_account(self, sim_factory: SimFactory, http: aiohttp.ClientSession) -> None:
        slow = SimAccount("storeb", "kb", "tb", rate_limit_per_minute=2)
        sim = await sim_factory(accounts=(slow,), rate_limit_per_minute=0)
        storeb = sim.account("storeb")
        statuses = []
        for _ in range(3):
            async with http.get(
                f"{storeb.base_url}/api/oms/pvt/orders/1-01", headers=storeb.auth_headers()
            ) as resp:
                statuses.append(resp.status)
        assert [404, 404, 429] == statuses
        for _ in range(3):
            async with http.get(
                f"{sim.base_url}/api/oms/pvt/orders/1-01", headers=sim.auth_headers()
            ) as resp:
                assert 404 == resp.status


class TestConfig:
    """Accounts are validated at start; `--accounts` takes a count or names."""

    @pytest.mark.parametrize(
        ("accounts", "problem"),
        [
            ((SimAccount.made_up("simaccount"),), "named twice"),
            ((SimAccount.made_up("bad_name"),), "may hold only"),
            ((SimAccount("b", "vtexappkey-simaccount-BRIDGE", "t"),), "two simulated accounts"),
            ((SimAccount("b", "", "t"),), "needs an appKey"),
        ],
    )
    def test_invalid(self, accounts: tuple[SimAccount, ...], problem: str) -> None:
        with pytest.raises(ValueError, match=problem):
            SimConfig(accounts=accounts)

    def test_cli_spec(self) -> None:
        config = SimConfig()
        assert ("simaccount", "simaccount-2", "simaccount-3") == with_accounts(config, "3").account_names()
        assert ("simaccount",) == with_accounts(config, "1").account_names()
        named = with_accounts(config, "brand-ar, brand-cl")
        assert ("brand-ar", "brand-cl") == named.account_names()
        assert "vtexappkey-brand-cl-BRIDGE" == named.accounts[0].app_key
        with pytest.raises(ValueError, match="at least one"):
            with_accounts(config, "0")
