"""Contract tests of the OMS document factory: schema, ids, money invariants, lifecycle fields."""

from __future__ import annotations

import re
from typing import Any

from bridge.validation import validate
from simulator.orders import apply_transition, build_order
from simulator.workload import generate_workload


def _evolve(seed: int, orders: int) -> list[tuple[str | None, dict[str, Any]]]:
    """Return (state, document snapshot) after every transition of a workload."""
    snapshots: list[tuple[str | None, dict[str, Any]]] = []
    for lifecycle in generate_workload(seed, orders).lifecycles:
        doc = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=seed)
        for transition in lifecycle.transitions:
            apply_transition(doc, transition.state, transition.at)
            snapshots.append((transition.state, doc))
    return snapshots


class TestSchema:
    """Every generated document validates against schemas/oms-order.schema.json at every status."""

    def test_all_snapshots_validate(self) -> None:
        for _, doc in _evolve(21, 60):
            validate("oms-order", doc)


class TestIdentity:
    """Ids follow VTEX's shapes: sequence = last 6 digits, orderGroup, 32-hex item uniqueIds."""

    def test_ids(self) -> None:
        lifecycle = generate_workload(2, 1).lifecycles[0]
        doc = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=2)
        group = lifecycle.order_id.split("-")[0]
        assert lifecycle.order_id == doc["orderId"]
        assert group[-6:] == doc["sequence"]
        assert group == doc["orderGroup"]
        assert "acme" == doc["hostname"]
        assert 1 <= len(doc["items"]) <= 4
        unique_ids = [item["uniqueId"] for item in doc["items"]]
        assert all(re.fullmatch(r"[0-9A-F]{32}", u) for u in unique_ids)
        assert len(unique_ids) == len(set(unique_ids))
        assert len(doc["items"]) == len(doc["itemMetadata"]["Items"])
        assert len(doc["items"]) == len(doc["shippingData"]["logisticsInfo"])

    def test_deterministic_per_seed(self) -> None:
        lifecycle = generate_workload(2, 1).lifecycles[0]
        first = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=2)
        second = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=2)
        other = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=3)
        assert first == second
        assert first != other


class TestMoney:
    """value == Σ totals == Σ payments; item totals add up; all money is integer cents."""

    def test_invariants(self) -> None:
        for _, doc in _evolve(4, 80):
            totals = {t["id"]: t["value"] for t in doc["totals"]}
            payments = [p for t in doc["paymentData"]["transactions"] for p in t["payments"]]
            assert doc["value"] == sum(totals.values())
            assert doc["value"] == sum(p["value"] for p in payments)
            assert totals["Items"] == sum(i["price"] * i["quantity"] for i in doc["items"])
            assert totals["Shipping"] == sum(li["price"] for li in doc["shippingData"]["logisticsInfo"])
            assert totals["Discounts"] <= 0
            assert all(isinstance(t["value"], int) for t in doc["totals"])


class TestLifecycleFields:
    """Status, statusDescription and lastChange follow the lifecycle; status-specific fields appear."""

    def test_status_and_last_change(self) -> None:
        lifecycle = generate_workload(6, 1, mix={"happy": 1.0}).lifecycles[0]
        doc = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=6)
        for transition in lifecycle.transitions:
            apply_transition(doc, transition.state, transition.at)
            assert transition.state == doc["status"]
            assert doc["lastChange"].startswith(transition.at.strftime("%Y-%m-%dT%H:%M:%S"))
            assert doc["lastChange"].endswith("+00:00")
        assert "Faturado" == doc["statusDescription"]
        assert doc["invoicedDate"] is not None
        assert doc["authorizedDate"] is not None
        package = doc["packageAttachment"]["packages"][0]
        assert doc["value"] == package["invoiceValue"]
        assert doc["creationDate"] < doc["lastChange"]

    def test_cancelled_order(self) -> None:
        lifecycle = generate_workload(6, 1, mix={"cancelled": 1.0}).lifecycles[0]
        doc = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=6)
        for transition in lifecycle.transitions:
            apply_transition(doc, transition.state, transition.at)
        assert "canceled" == doc["status"]
        assert doc["cancellationData"]["RequestedByUser"] is True
        assert [] == doc["packageAttachment"]["packages"]

    def test_null_state(self) -> None:
        lifecycle = generate_workload(6, 1, mix={"null_state": 1.0}).lifecycles[0]
        doc = build_order(lifecycle.order_id, lifecycle.created_at, account="acme", seed=6)
        apply_transition(doc, None, lifecycle.created_at)
        assert doc["status"] is None
        assert "" == doc["statusDescription"]
        validate("oms-order", doc)
