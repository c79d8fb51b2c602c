"""Contract tests of hook/feed filters: validation codes, exclusivity (409), JSONata matching, single fire."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.filters import FilterError, FilterMatcher, OrdersFilter, WorkflowFilter, parse_filter


class TestParse:
    """Filters parse as documented; mixing FromWorkflow and FromOrders fields is a 409, the rest 400."""

    def test_from_workflow(self) -> None:
        assert WorkflowFilter(("handling", "invoiced")) == parse_filter(
            {"type": "FromWorkflow", "status": ["handling", "invoiced"]}
        )

    def test_from_orders(self) -> None:
        flt = parse_filter(
            {"type": "FromOrders", "expression": 'status = "handling"', "disableSingleFire": True}
        )
        assert isinstance(flt, OrdersFilter)
        assert {
            "type": "FromOrders",
            "expression": 'status = "handling"',
            "disableSingleFire": True,
        } == flt.to_json()

    @pytest.mark.parametrize(
        "raw",
        [
            {"type": "FromWorkflow", "status": ["handling"], "expression": "true"},
            {"type": "FromWorkflow", "status": ["handling"], "disableSingleFire": False},
            {"type": "FromOrders", "expression": "true", "disableSingleFire": False, "status": ["handling"]},
        ],
    )
    def test_mixed_fields_conflict(self, raw: dict[str, Any]) -> None:
        with pytest.raises(FilterError) as info:
            parse_filter(raw)
        assert 409 == info.value.status

    @pytest.mark.parametrize(
        "raw",
        [
            None,
            [],
            {"type": "Other"},
            {"type": "FromWorkflow"},
            {"type": "FromWorkflow", "status": []},
            {"type": "FromWorkflow", "status": [1]},
            {"type": "FromOrders"},
            {"type": "FromOrders", "expression": "status = = "},
            {"type": "FromOrders", "expression": "true", "disableSingleFire": "no"},
        ],
    )
    def test_invalid(self, raw: object) -> None:
        with pytest.raises(FilterError) as info:
            parse_filter(raw)
        assert 400 == info.value.status


class TestMatch:
    """FromWorkflow matches statuses; FromOrders evaluates JSONata on the order, single fire by default."""

    def test_workflow(self) -> None:
        matcher = FilterMatcher(WorkflowFilter(("handling",)))
        assert matcher.matches({"orderId": "1", "status": "handling"})
        assert not matcher.matches({"orderId": "1", "status": "invoiced"})

    def test_jsonata_expression(self) -> None:
        flt = parse_filter(
            {"type": "FromOrders", "expression": "$count(items[price>=1000]) > 0", "disableSingleFire": True}
        )
        matcher = FilterMatcher(flt)
        assert matcher.matches({"orderId": "1", "items": [{"price": 1500}]})
        assert not matcher.matches({"orderId": "2", "items": [{"price": 10}]})

    def test_single_fire(self) -> None:
        flt = parse_filter({"type": "FromOrders", "expression": "value > 100", "disableSingleFire": False})
        matcher = FilterMatcher(flt)
        assert [True, False, False] == [matcher.matches({"orderId": "1", "value": 200}) for _ in range(3)]
        assert matcher.matches({"orderId": "2", "value": 200})

    def test_fire_on_every_change(self) -> None:
        flt = parse_filter({"type": "FromOrders", "expression": "value > 100", "disableSingleFire": True})
        matcher = FilterMatcher(flt)
        assert [True, True] == [matcher.matches({"orderId": "1", "value": 200}) for _ in range(2)]

    def test_runtime_error_is_no_match(self) -> None:
        flt = parse_filter(
            {"type": "FromOrders", "expression": "$number(status) > 1", "disableSingleFire": True}
        )
        assert not FilterMatcher(flt).matches({"orderId": "1", "status": "handling"})
