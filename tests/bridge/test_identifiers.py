"""The OrderId and account-name rules (bridge.identifiers) and the schema pattern that mirrors them."""

from __future__ import annotations

import re

import pytest

from bridge.identifiers import (
    ORDER_ID_MAX_LENGTH,
    ORDER_ID_SCHEMA_PATTERN,
    InvalidIdentifier,
    account_name_problem,
    order_id_problem,
    validate_account_name,
    validate_order_id,
)
from bridge.validation import SchemaViolation, load_schema, validate

#: Shapes VTEX documents or uses (REFERENCE.md section 2, the example order, marketplace/seller ids).
VALID_ORDER_IDS = [
    "1172452900788-01",
    "1268540501456-01",
    "v70530116str-01",
    "v52277740atmc-01",
    "seq501456",
    "00-v502556llux-01",
    "SLR-1234567890123-01",
    "MKP-v1000001abc-01",
    "FRN-1234567890123-01",
    "order_with_underscore.1",
    "a",
    "x" * ORDER_ID_MAX_LENGTH,
]

INVALID_ORDER_IDS = [
    "",
    ".",
    "..",
    "a..b",
    "../../../../api/catalog_system/pvt/products/GetProductById/1?x",
    "v1-01#x",
    "v1-01?a=1",
    "v1-01/x",
    "v1-01%2F",
    "v1\x00-01",
    "v1-01\n",
    "v1 01",
    "v1\t01",
    "pedido-ç-01",
    "x" * (ORDER_ID_MAX_LENGTH + 1),
]


class TestOrderId:
    @pytest.mark.parametrize("order_id", VALID_ORDER_IDS)
    def test_vtex_shapes_are_valid(self, order_id: str) -> None:
        assert order_id_problem(order_id) is None
        assert validate_order_id(order_id) == order_id

    @pytest.mark.parametrize("order_id", INVALID_ORDER_IDS)
    def test_unsafe_ids_are_refused_with_a_reason(self, order_id: str) -> None:
        problem = order_id_problem(order_id)
        assert problem
        with pytest.raises(InvalidIdentifier) as caught:
            validate_order_id(order_id, field="order_id")
        assert caught.value.field == "order_id"
        assert str(caught.value).startswith("order_id ")
        assert "\x00" not in str(caught.value) and "\n" not in str(caught.value)

    def test_non_strings_are_refused(self) -> None:
        assert order_id_problem(12345) == "must be a string"
        assert order_id_problem(None) == "must be a string"

    def test_control_characters_are_named_not_echoed(self) -> None:
        assert "U+0000" in (order_id_problem("a\x00b") or "")
        assert "'#'" in (order_id_problem("a#b") or "")

    @pytest.mark.parametrize("order_id", VALID_ORDER_IDS + INVALID_ORDER_IDS)
    def test_schema_pattern_agrees_with_the_module(self, order_id: str) -> None:
        """The hook schema's pattern, the module and the ECMA-style regex give the same verdict."""
        schema_pattern = load_schema("hook-notification")["properties"]["OrderId"]["pattern"]
        assert schema_pattern == ORDER_ID_SCHEMA_PATTERN
        by_module = order_id_problem(order_id) is None
        # ECMA-262 `$` never matches before a final newline: mirror that with \Z.
        by_regex = re.search(ORDER_ID_SCHEMA_PATTERN.replace("$", r"\Z"), order_id) is not None
        try:
            validate("hook-notification", _hook(order_id))
            by_schema = True
        except SchemaViolation as exc:
            assert exc.path == "OrderId"
            by_schema = False
        assert by_module == by_regex == by_schema


class TestAccountName:
    @pytest.mark.parametrize("name", ["simaccount", "automacaoqa", "mystore", "acme2", "my-store", "A1"])
    def test_valid(self, name: str) -> None:
        assert account_name_problem(name) is None
        assert validate_account_name(name) == name

    @pytest.mark.parametrize(
        "name", ["", "-acme", "acme-", "evil.com/x", "acme.evil", "acme:443", "ac me", "a@b", "x" * 64, "ç"]
    )
    def test_invalid(self, name: str) -> None:
        with pytest.raises(InvalidIdentifier) as caught:
            validate_account_name(name, field="VTEX_ACCOUNT")
        assert caught.value.field == "VTEX_ACCOUNT"


def _hook(order_id: str) -> dict[str, object]:
    return {
        "Domain": "Marketplace",
        "OrderId": order_id,
        "State": "ready-for-handling",
        "LastChange": "2019-08-14T17:11:39.2550122Z",
        "Origin": {"Account": "acme", "Key": "vtexappkey-acme-TEST"},
    }
