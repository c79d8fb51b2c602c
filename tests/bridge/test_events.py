"""The event contract: ids are deterministic, records round-trip and validate against schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from referencing import Registry, Resource

from bridge import events
from bridge.validation import SchemaViolation, load_schema, validate
from schemas import BASE_URI, SCHEMA_DIR

HOOK: dict[str, Any] = {
    "Domain": "Fulfillment",
    "OrderId": "v52277740atmc-01",
    "State": "ready-for-handling",
    "LastState": "window-to-cancel",
    "LastChange": "2019-08-14T17:11:39.2550122Z",
    "CurrentChange": "2019-08-14T17:12:48.0965893Z",
    "Origin": {"Account": "automacaoqa", "Key": "vtexappkey-appvtex"},
}
#: The reference's example order (copied from shared/vtex into the simulator's data).
EXAMPLE_ORDER = json.loads(
    (Path(__file__).resolve().parents[2] / "simulator" / "data" / "example-order.json").read_text()
)


def _registry() -> Registry:
    resources = [
        (BASE_URI + p.name, Resource.from_contents(json.loads(p.read_text())))
        for p in SCHEMA_DIR.glob("*.schema.json")
    ]
    return Registry().with_resources(resources)


def _check(schema: str, value: object) -> None:
    """Validate with the reference implementation too, so fastjsonschema is not our only judge."""
    jsonschema.Draft202012Validator(
        load_schema(schema), registry=_registry(), format_checker=jsonschema.FormatChecker()
    ).validate(value)
    validate(schema, value)


class TestEventId:
    """The id depends on OrderId, State and the instant of LastChange only."""

    def test_deterministic(self) -> None:
        a = events.compute_event_id("o-1", "invoiced", "2019-08-14T17:11:39.2550122Z")
        b = events.compute_event_id("o-1", "invoiced", "2019-08-14T17:11:39.2550122Z")
        assert a == b
        assert len(a) == 32

    def test_same_instant_written_differently(self) -> None:
        a = events.compute_event_id("o-1", "invoiced", "2019-08-14T17:11:39.2550122Z")
        b = events.compute_event_id("o-1", "invoiced", "2019-08-14T14:11:39.2550122-03:00")
        assert a == b

    @pytest.mark.parametrize(
        "other",
        [
            ("o-2", "invoiced", "2019-08-14T17:11:39Z"),
            ("o-1", "canceled", "2019-08-14T17:11:39Z"),
            ("o-1", "invoiced", "2019-08-14T17:11:40Z"),
        ],
    )
    def test_each_part_matters(self, other: tuple[str, str, str]) -> None:
        assert events.compute_event_id("o-1", "invoiced", "2019-08-14T17:11:39Z") != (
            events.compute_event_id(*other)
        )

    def test_null_and_empty_state_are_one(self) -> None:
        assert events.compute_event_id("o", None, "2020-01-01T00:00:00Z") == (
            events.compute_event_id("o", "", "2020-01-01T00:00:00Z")
        )


class TestInputEvent:
    """Input records carry the VTEX payload untouched (but for the appKey) plus our metadata."""

    def test_round_trip(self) -> None:
        event = events.build_input_event(HOOK, source="hook")
        decoded = events.decode_input_event(event.encode())
        assert event == decoded
        assert HOOK["OrderId"].encode() == decoded.key()
        assert decoded.account == "automacaoqa"
        without_key = {**HOOK, "Origin": {"Account": "automacaoqa"}}
        assert {k: v for k, v in decoded.to_value().items() if k in HOOK} == without_key

    def test_app_key_is_not_copied(self) -> None:
        """Origin.Key (the appKey) is checked by the ingress and never copied into a record."""
        for source in ("hook", "feed", "backfill"):
            event = events.build_input_event(HOOK, source=source)  # type: ignore[arg-type]
            assert "Key" not in event.payload["Origin"]
            assert b"vtexappkey-appvtex" not in event.encode()
        assert "Key" in HOOK["Origin"]  # the caller's payload is left alone

    def test_validates_against_schema(self) -> None:
        _check("input-event", events.build_input_event(HOOK, source="feed").to_value())

    def test_null_state_routes_as_null(self) -> None:
        event = events.build_input_event({**HOOK, "State": None}, source="hook")
        assert event.state == "null"
        _check("input-event", event.to_value())

    @pytest.mark.parametrize(
        "raw",
        [
            b"not json",
            b"[1]",
            b'{"OrderId":"x"}',
            b'{"OrderId":"x","LastChange":"t","event_id":"e","source":"x"}',
        ],
    )
    def test_bad_records_are_rejected(self, raw: bytes) -> None:
        with pytest.raises(events.InvalidEvent):
            events.decode_input_event(raw)


class TestDownstreamRecord:
    """Downstream records carry the ids, the late flag and the full order."""

    def test_validates_against_schema(self) -> None:
        event = events.build_input_event(HOOK, source="hook")
        record = events.DownstreamRecord(
            event=event,
            order=EXAMPLE_ORDER,
            route="ready-for-handling",
            lateness=events.Lateness(late=True, newer_state="invoiced", newer_change=HOOK["CurrentChange"]),
        )
        value = orjson.loads(record.encode())
        _check("downstream-event", value)
        assert event.event_id == value["event_id"]
        assert value["late"] is True
        assert (
            events.decode_downstream_record(record.encode())["order"]["orderId"] == EXAMPLE_ORDER["orderId"]
        )


class TestHookSchema:
    """The ingress schema names the offending field."""

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({**HOOK, "OrderId": 5}, "OrderId"),
            ({k: v for k, v in HOOK.items() if k != "Origin"}, "$"),
            ({**HOOK, "LastChange": "yesterday"}, "LastChange"),
            ({**HOOK, "Origin": {"Account": "a"}}, "Origin"),
        ],
    )
    def test_violations_name_the_field(self, payload: dict[str, object], field: str) -> None:
        with pytest.raises(SchemaViolation) as info:
            validate("hook-notification", payload)
        assert field == info.value.path

    def test_guide_example_without_optional_fields(self) -> None:
        payload = {k: v for k, v in HOOK.items() if k not in ("LastState", "CurrentChange")}
        validate("hook-notification", payload)
