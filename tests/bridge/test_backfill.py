"""Backfill turns OMS orders into `source: backfill` input events whose ids are stable across runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bridge.backfill import BackfillAborted, backfill_orders, order_to_payload, read_order_ids
from bridge.cli import main
from bridge.events import compute_event_id, decode_input_event
from bridge.vtex.config_models import EXIT_AUTH
from bridge.vtex.oms import OmsClient
from simulator.server import SimHandle

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
                    )  # fmt: skip
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

    async def test_bad_credentials_abort(self, sim: SimHandle) -> None:
        order_ids = driven_orders(sim, 2)
        async with oms_for(sim, token="wrong") as oms:
            with pytest.raises(BackfillAborted):
                await backfill_orders(
                    order_ids, oms=oms, sink=RecordingSink(), topic="in", account="a", app_key="k"
                )


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
        assert 0 == code and "2 event(s) built (dry run)" in err
        assert set(order_ids) == {line.split("\t")[0] for line in out.splitlines()}

        ids_file.write_text(f"{order_ids[0]}\nv404missing-01\n")
        code, _, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--dry-run")
        assert 1 == code and "order v404missing-01 not found" in err and "safe to run again" in err

        code, _, err = await cli(
            capsys, "backfill", "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-02"
        )
        assert 2 == code and "--order-ids" in err
        code, _, err = await cli(capsys, "backfill", "--order-ids", str(tmp_path / "none.txt"))
        assert 2 == code and "cannot read" in err

        monkeypatch.setenv("VTEX_APP_TOKEN", "bad-token-777")
        ids_file.write_text(f"{order_ids[0]}\n")
        code, out, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--dry-run")
        assert EXIT_AUTH == code and "bad-token-777" not in out + err
