"""Order lookup by (account, OrderId): the console API's `?account=` and `vtex-bridge order --account`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bridge.accounts import order_key
from bridge.cli import main
from bridge.console_client import order_path
from processors.console.ownership import partition_for
from tests.processors.test_console_api import (
    AUTH,
    PARTITIONS,
    Calls,
    Client,
    FakeReader,
    FakeRuntime,
    build,
    settings,
)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    runtime = FakeRuntime(settings(vtex_account="acme"), set(range(PARTITIONS)))
    runtime.default_account = "acme"  # type: ignore[attr-defined]
    # The same OrderId in two accounts: two timelines (keys `o1` and `beta/o1`).
    runtime.record("o1", ("emitted", None))
    store = runtime.stores[partition_for("o1", PARTITIONS)]
    store.put(order_key("beta", "o1", "acme"), list(store.get("o1")) * 2)
    distribution = {"http://127.0.0.1:1": {"in": list(range(PARTITIONS))}}
    app = build(runtime.settings, runtime, distribution, FakeReader(), Calls([]))
    return await aiohttp_client(app, headers=AUTH)


async def test_lookup_by_account(client: Client) -> None:
    default = await (await client.get("/api/orders/o1?latest=0")).json()
    beta = await (await client.get("/api/orders/o1?account=beta&latest=0")).json()
    assert ("acme", 1) == (default["account"], len(default["timeline"]))
    assert ("beta", 2) == (beta["account"], len(beta["timeline"]))
    assert default["partition"] == beta["partition"]  # the OrderId alone places the order
    missing = await client.get("/api/orders/o1?account=gamma")
    assert (404, "gamma") == (missing.status, (await missing.json())["account"])
    bad = await client.get("/api/orders/o1?account=evil.example")
    assert (400, "bad-account") == (bad.status, (await bad.json())["error"])


def test_order_command_passes_the_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert "/api/orders/o-1?account=beta" == order_path("o-1", "beta")
    assert "/api/orders/o-1" == order_path("o-1")
    with pytest.raises(SystemExit) as caught:
        main(["order", "o-1", "--account", "not/an/account", "--url", "http://127.0.0.1:9"])
    assert 2 == caught.value.code
    assert "not a VTEX account name" in capsys.readouterr().err
