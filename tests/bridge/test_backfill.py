"""Backfill turns OMS orders into `source: backfill` input events whose ids are stable across runs."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from bridge.backfill import (
    BackfillAborted,
    InvalidRange,
    backfill_orders,
    list_order_ids,
    order_to_payload,
    parse_bound,
    read_order_ids,
)
from bridge.events import compute_event_id, decode_input_event
from bridge.settings import SIMULATOR_APP_KEY as APP_KEY
from bridge.settings import SIMULATOR_APP_TOKEN as APP_TOKEN
from bridge.timestamps import canonical_timestamp
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import EXIT_AUTH
from bridge.vtex.oms import OmsClient
from simulator.server import SimHandle
from testkit.cli import cli

EXAMPLE_ORDER = Path(__file__).resolve().parents[2] / "simulator" / "data" / "example-order.json"


class RecordingSink:
    """Acknowledges every record and keeps it."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        timeout: float,
    ) -> Any:
        assert key is not None
        self.records.append((topic, key, value))


def oms_for(sim: SimHandle, token: str | None = None) -> OmsClient:
    return OmsClient(
        base_url=sim.base_url,
        app_key=sim.config.app_key,
        app_token=token or sim.config.app_token,
        rate_limit_per_s=100.0,
        timeout_s=5.0,
        max_attempts=2,
    )


def driven_orders(sim: SimHandle, count: int) -> list[str]:
    transitions = list(sim.workload(orders=count).transitions())
    for transition in transitions:
        sim.emit(transition)
    return list(dict.fromkeys(t.order_id for t in transitions))


class TestPayload:
    """An order becomes the hook payload of its current state."""

    def test_example_order(self) -> None:
        order = json.loads(EXAMPLE_ORDER.read_text())
        payload = order_to_payload(order, account="acme", app_key="vtexappkey-acme")
        assert order["orderId"] == payload["OrderId"]
        assert order["status"] == payload["State"]
        assert payload["LastChange"].endswith("Z") and len(payload["LastChange"].split(".")[1]) == 8
        assert {"Account": "acme", "Key": "vtexappkey-acme"} == payload["Origin"]
        assert "LastState" not in payload

    def test_order_id_file(self) -> None:
        lines = ["# missed during the outage", "v1-01", "", "  v2-01  # retry", "v1-01"]
        assert ["v1-01", "v2-01"] == read_order_ids(lines)


class TestBackfillOrders:
    """Every readable order gives one event; unknown ones are reported; a second run repeats the ids."""

    async def test_twice_same_event_ids(self, sim: SimHandle) -> None:
        order_ids = driven_orders(sim, 3)
        sink = RecordingSink()
        runs = []
        async with oms_for(sim) as oms:
            for _ in range(2):
                runs.append(
                    await backfill_orders(
                        [*order_ids, "v404missing-01"],
                        oms=oms,
                        sink=sink,
                        topic="in",
                        account="simaccount",
                        app_key="k",
                    )
                )
        first, second = runs
        assert ["v404missing-01"] == first.not_found
        assert sorted(e.event_id for e in first.produced) == sorted(e.event_id for e in second.produced)
        assert 6 == len(sink.records)
        for topic, key, value in sink.records:
            event = decode_input_event(value)
            order = sim.store.orders[event.order_id]
            assert ("in", event.order_id.encode(), "backfill") == (topic, key, event.source)
            assert compute_event_id(order["orderId"], order["status"], order["lastChange"]) == event.event_id

    async def test_dry_run_produces_nothing(self, sim: SimHandle) -> None:
        order_ids = driven_orders(sim, 1)
        async with oms_for(sim) as oms:
            result = await backfill_orders(
                order_ids, oms=oms, sink=None, topic="in", account="a", app_key="k"
            )
        assert 1 == len(result.produced) and result.ok

    async def test_invalid_ids_are_reported_never_read(self, sim: SimHandle) -> None:
        order_ids = driven_orders(sim, 1)
        bad = ["../../api/catalog_system/pvt/products/GetProductById/1?x", "v1-01#x", ""]
        sink = RecordingSink()
        async with oms_for(sim) as oms:
            result = await backfill_orders(
                [*bad, *order_ids], oms=oms, sink=sink, topic="in", account="a", app_key="k",
                dead_letter_topic="dlq",
            )  # fmt: skip
            assert 1 == oms.calls
        assert order_ids == [event.order_id for event in result.produced]
        assert set(bad) == set(result.failed)
        assert all(reason.startswith("invalid OrderId: it ") for reason in result.failed.values())
        letters = [orjson.loads(value) for topic, _, value in sink.records if topic == "dlq"]
        assert set(bad) == {letter["order_id"] for letter in letters}
        assert {("invalid_order_id", "backfill")} == {(d["reason"], d["source"]) for d in letters}

    async def test_bad_credentials_abort(self, sim: SimHandle) -> None:
        order_ids = driven_orders(sim, 2)
        async with oms_for(sim, token="wrong") as oms:
            with pytest.raises(BackfillAborted):
                await backfill_orders(
                    order_ids, oms=oms, sink=RecordingSink(), topic="in", account="a", app_key="k"
                )


class TestBackfillCommand:
    """`backfill` explains what it did and why it could not, with exit codes."""

    async def test_dry_run_and_errors(
        self,
        sim: SimHandle,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_VTEX_BASE_URL", sim.base_url)
        order_ids = driven_orders(sim, 2)
        ids_file = tmp_path / "ids.txt"
        ids_file.write_text("\n".join(order_ids) + "\n")
        code, out, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--dry-run")
        assert 0 == code and "backfill (dry run): 2 event(s) of account" in err
        assert set(order_ids) == {line.split("\t")[0] for line in out.splitlines()}

        ids_file.write_text(f"{order_ids[0]}\nv404missing-01\n")
        code, _, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--dry-run")
        assert 1 == code and "order v404missing-01 not found" in err and "safe to run again" in err

        code, _, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--since", "2026-01-01")
        assert 2 == code and "either --order-ids or --since/--until" in err
        code, _, err = await cli(capsys, "backfill", "--order-ids", str(tmp_path / "none.txt"))
        assert 2 == code and "cannot read" in err

        monkeypatch.setenv("VTEX_APP_TOKEN", "bad-token-777")
        ids_file.write_text(f"{order_ids[0]}\n")
        code, out, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--dry-run")
        assert EXIT_AUTH == code and "bad-token-777" not in out + err


@dataclass
class ListOrdersStandIn:
    """VTEX's List orders + Get order over loopback HTTP (the simulator serves only Get order)."""

    created: dict[str, str] = field(default_factory=dict)  # orderId -> creationDate (UTC ISO)
    queries: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""

    async def list_orders(self, request: web.Request) -> web.Response:
        if request.headers.get("X-VTEX-API-AppToken") != APP_TOKEN:
            return web.json_response({"error": {"code": "1", "message": "forbidden"}}, status=403)
        self.queries.append(dict(request.query))
        match = re.fullmatch(r"creationDate:\[(\S+) TO (\S+)\]", request.query["f_creationDate"])
        assert match is not None
        since, until = match.groups()
        page, per_page = int(request.query["page"]), int(request.query["per_page"])
        ids = sorted(i for i, c in self.created.items() if since <= c <= until)
        chunk = ids[(page - 1) * per_page : page * per_page]
        pages = -(-len(ids) // per_page)
        return web.json_response(
            {
                "list": [{"orderId": i, "creationDate": self.created[i]} for i in chunk],
                "paging": {"total": len(ids), "pages": pages, "currentPage": page, "perPage": per_page},
            }
        )

    async def get_order(self, request: web.Request) -> web.Response:
        order = json.loads(EXAMPLE_ORDER.read_text())
        order["orderId"] = request.match_info["order_id"]
        return web.json_response(order)


@pytest.fixture
async def list_orders() -> AsyncIterator[ListOrdersStandIn]:
    async with serve_list_orders() as stand_in:
        yield stand_in


@contextlib.asynccontextmanager
async def serve_list_orders() -> AsyncIterator[ListOrdersStandIn]:
    stand_in = ListOrdersStandIn()
    app = web.Application()
    app.router.add_get("/api/oms/pvt/orders", stand_in.list_orders)
    app.router.add_get("/api/oms/pvt/orders/{order_id}", stand_in.get_order)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    stand_in.base_url = f"http://127.0.0.1:{port}"
    try:
        yield stand_in
    finally:
        await runner.cleanup()


class TestDateRange:
    """`--since/--until` pages through VTEX's List orders and backfills the orders created in the range."""

    def test_bounds(self) -> None:
        assert "2026-01-01T00:00:00.000Z" == parse_bound("2026-01-01", end=False)
        assert "2026-01-01T23:59:59.999Z" == parse_bound("2026-01-01", end=True)
        assert "2026-01-01T03:30:00.000Z" == parse_bound("2026-01-01T00:30:00-03:00", end=False)
        with pytest.raises(InvalidRange):
            parse_bound("yesterday", end=False)

    async def test_pages_through_the_range(self, list_orders: ListOrdersStandIn) -> None:
        list_orders.created = {
            f"v{n:04d}rng-01": f"2026-01-01T{n // 60:02d}:{n % 60:02d}:00.000Z" for n in range(250)
        }
        list_orders.created["v9999late-01"] = "2026-01-03T00:00:00.000Z"
        client = ConfigApiClient(
            base_url=list_orders.base_url, app_key=APP_KEY, app_token=APP_TOKEN, timeout_s=5
        )
        async with client:
            ids = await list_order_ids(client, "2026-01-01T00:00:00.000Z", "2026-01-01T23:59:59.999Z")
        assert sorted(ids) == sorted(i for i in list_orders.created if "late" not in i)
        assert ["1", "2", "3"] == [q["page"] for q in list_orders.queries]

    async def test_too_many_pages_asks_for_a_smaller_range(self) -> None:
        class Huge:
            async def list_orders_page(
                self, since: str, until: str, page: int, per_page: int
            ) -> dict[str, Any]:
                return {"list": [{"orderId": "x"}], "paging": {"total": 5000, "pages": 50}}

        with pytest.raises(InvalidRange, match="smaller ranges"):
            await list_order_ids(Huge(), "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z")
        with pytest.raises(InvalidRange, match="after"):
            await list_order_ids(Huge(), "2026-02-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z")

    async def test_command(
        self,
        list_orders: ListOrdersStandIn,
        sim: SimHandle,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        list_orders.created = {
            "v0001rng-01": "2026-01-01T10:00:00.000Z",
            "v0002rng-01": "2026-01-05T10:00:00.000Z",
        }
        monkeypatch.setenv("VTEX_BRIDGE_VTEX_BASE_URL", list_orders.base_url)
        code, out, err = await cli(
            capsys, "backfill", "--since", "2026-01-01", "--until", "2026-01-02", "--dry-run"
        )
        assert 0 == code, err
        assert "1 order(s) created between" in err
        assert ["v0001rng-01"] == [line.split("\t")[0] for line in out.splitlines()]
        code, _, err = await cli(capsys, "backfill", "--since", "2026-01-03", "--until", "2026-01-02")
        assert 2 == code and "is after" in err
        code, _, err = await cli(capsys, "backfill", "--since", "2026-01-01")
        assert 2 == code and "both --since and --until" in err

    async def test_command_against_the_simulator(
        self, sim: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        workload = sim.workload(orders=5, start=datetime(2026, 1, 1, 10, 0, tzinfo=UTC))
        for transition in workload.transitions():
            sim.emit(transition)
        created = {
            order_id: canonical_timestamp(doc["creationDate"]) for order_id, doc in sim.state.orders.items()
        }
        assert 5 == len(created)
        monkeypatch.setenv("VTEX_BRIDGE_VTEX_BASE_URL", sim.base_url)
        code, out, err = await cli(
            capsys, "backfill", "--since", "2026-01-01", "--until", "2026-01-02", "--dry-run"
        )
        assert 0 == code, err
        expected = sorted(i for i, c in created.items() if c <= "2026-01-02T23:59:59.9999999Z")
        assert expected == sorted(line.split("\t")[0] for line in out.splitlines())
        code, out, err = await cli(
            capsys, "backfill", "--since", "2020-01-01", "--until", "2020-01-02", "--dry-run"
        )
        assert 0 == code, err
        assert "" == out


class TestAllAccounts:
    """`--all-accounts` lists and backfills every configured account from its own List orders and OMS."""

    async def test_each_account_in_turn(
        self,
        list_orders: ListOrdersStandIn,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        async with serve_list_orders() as other:
            list_orders.created = {"v0001aaa-01": "2026-01-01T10:00:00.000Z"}
            other.created = {
                "v0002bbb-01": "2026-01-01T11:00:00.000Z",
                "v0003bbb-01": "2026-01-01T12:00:00.000Z",
            }
            accounts = [
                {
                    "account": "storea",
                    "app_key": APP_KEY,
                    "app_token": APP_TOKEN,
                    "base_url": list_orders.base_url,
                },
                {
                    "account": "storeb",
                    "app_key": APP_KEY + "B",
                    "app_token": APP_TOKEN,
                    "base_url": other.base_url,
                },
            ]
            (tmp_path / "accounts.json").write_bytes(orjson.dumps(accounts))
            monkeypatch.setenv("VTEX_BRIDGE_ACCOUNTS_FILE", str(tmp_path / "accounts.json"))
            code, out, err = await cli(
                capsys,
                "backfill",
                "--since",
                "2026-01-01",
                "--until",
                "2026-01-01",
                "--all-accounts",
                "--dry-run",
            )
        assert 0 == code, err
        assert "account storea: 1 order(s) created" in err and "account storeb: 2 order(s) created" in err
        lines = [line.split("\t") for line in out.splitlines()]
        assert [("v0001aaa-01", "storea"), ("v0002bbb-01", "storeb"), ("v0003bbb-01", "storeb")] == sorted(
            (fields[0], fields[4]) for fields in lines
        )
        assert list_orders.queries and other.queries  # each account's own List orders was asked
