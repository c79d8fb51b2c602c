"""Unit tests of `OrderDocument`: validated OMS bytes that read like the dict they stand for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.events import DownstreamRecord, build_input_event
from bridge.vtex.order_document import NotAnOrder, OrderDocument, order_json

EXAMPLE = Path(__file__).resolve().parents[2] / "simulator" / "data" / "example-order.json"


def example() -> tuple[bytes, dict[str, Any]]:
    raw = EXAMPLE.read_bytes()
    return raw, orjson.loads(raw)


class TestParse:
    def test_reads_like_the_parsed_dict(self) -> None:
        raw, parsed = example()
        document = OrderDocument.parse(raw)
        assert parsed["status"] == document.status == document["status"] == document.get("status")
        assert document == parsed
        assert dict(document) == parsed
        assert len(document) == len(parsed)
        assert parsed["items"] == document["items"]
        assert document.get("no-such-field", "default") == "default"

    def test_status_is_read_without_parsing_the_rest(self) -> None:
        document = OrderDocument.parse(b'{"status": "invoiced", "items": [1, 2]}')
        assert "invoiced" == document.status
        assert document._parsed is None  # the hot path never builds the Python objects

    def test_an_absent_status_is_none_or_the_default(self) -> None:
        document = OrderDocument.parse(b'{"orderId": "o-1"}')
        assert document.status is None
        assert "dflt" == document.get("status", "dflt")
        with pytest.raises(KeyError):
            document["status"]

    def test_a_non_string_status_is_kept_as_python(self) -> None:
        assert {"a": [1]} == OrderDocument.parse(b'{"status": {"a": [1]}}').status
        assert [1, None] == OrderDocument.parse(b'{"status": [1, null]}').status
        assert OrderDocument.parse(b'{"status": null}').status is None

    @pytest.mark.parametrize(
        "raw", [b"", b"null", b"[]", b"3", b'"x"', b"{", b"{}x", b'{"a": "\xff"}', b"<html/>"]
    )
    def test_anything_but_a_json_object_is_refused(self, raw: bytes) -> None:
        with pytest.raises(NotAnOrder):
            OrderDocument.parse(raw)

    def test_a_refused_document_leaves_the_parser_usable(self) -> None:
        with pytest.raises(NotAnOrder):
            OrderDocument.parse(b"[1, 2]")
        assert "ok" == OrderDocument.parse(b'{"status": "ok"}').status


class TestDownstreamEncoding:
    def test_the_received_bytes_go_downstream_unchanged(self) -> None:
        raw, parsed = example()
        event = build_input_event(
            {
                "Domain": "Marketplace",
                "OrderId": parsed["orderId"],
                "State": "invoiced",
                "LastState": "handling",
                "LastChange": "2026-01-02T03:04:05.0000000Z",
                "CurrentChange": "2026-01-02T03:04:06.0000000Z",
                "Origin": {"Account": "store", "Key": "vtexappkey-store-X"},
            },
            source="hook",
        )
        from_document = DownstreamRecord(event, OrderDocument.parse(raw), "invoiced").encode()
        assert raw in from_document  # embedded as received, not re-serialised
        value = orjson.loads(from_document)
        assert parsed == value["order"]
        assert parsed["status"] == value["order_status"]

    def test_a_plain_mapping_is_copied(self) -> None:
        order = {"status": "x"}
        assert order == order_json(order)
        assert order_json(order) is not order
