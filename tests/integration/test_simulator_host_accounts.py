"""The simulator over real HTTP selects the account from the Host header, as VTEX's host names do.

A bridge whose base URL keeps VTEX's form (`https://{account}.vtexcommercestable.com.br`, the name
pointed at the simulator by DNS or a proxy) sends the account only in the Host header. Resolving such a
name needs DNS, so the client here connects to the simulator's loopback address and sends the Host.
"""

from __future__ import annotations

import aiohttp
import pytest

from simulator.config import SimAccount
from simulator.server import SimHandle
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration


def _drive(handle: SimHandle) -> str:
    workload = handle.workload(1, mix={"happy": 1.0})
    for transition in workload.transitions():
        handle.emit(transition)
    (lifecycle,) = workload.lifecycles
    return lifecycle.order_id


async def test_two_accounts_by_host_header(sim_factory: SimFactory) -> None:
    sim = await sim_factory(accounts=(SimAccount.made_up("brand-ar"),))
    first, second = sim.each_account()
    orders = {first.config.account: _drive(first), second.config.account: _drive(second)}
    assert orders[first.config.account] != orders[second.config.account]
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for handle, other in ((first, second), (second, first)):
            account = handle.config.account
            host = {"Host": f"{account}.vtexcommercestable.com.br"}
            url = f"{sim.root_url}/api/oms/pvt/orders/{orders[account]}"
            async with http.get(url, headers={**host, **handle.auth_headers()}) as resp:
                assert 200 == resp.status
                document = await resp.json()
            assert (orders[account], account) == (document["orderId"], document["hostname"])
            async with http.get(url, headers={**host, **other.auth_headers()}) as resp:
                assert 403 == resp.status  # the other account's appKey is not enabled here
                assert "credentials" in (await resp.json())["error"]["message"]
            async with http.get(url, headers=host) as resp:
                assert 401 == resp.status  # no credentials at all
