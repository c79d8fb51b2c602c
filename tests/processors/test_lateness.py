"""Unit tests of late-event detection."""

from __future__ import annotations

from bridge.events import Lateness, build_input_event
from processors.lateness import ON_TIME, assess, event_change


def event(last_change: str, current_change: str | None = None) -> object:
    payload = {"OrderId": "o-1", "State": "handling", "LastChange": last_change, "Origin": {"Account": "a"}}
    if current_change is not None:
        payload["CurrentChange"] = current_change
    return build_input_event(payload, source="hook")


class TestEventChange:
    """The moment of an event is its CurrentChange, else its LastChange, canonicalised."""

    def test_prefers_current_change(self) -> None:
        e = build_input_event(
            {
                "OrderId": "o",
                "State": "s",
                "LastChange": "2026-01-01T00:00:00Z",
                "CurrentChange": "2026-01-02T00:00:00Z",
            },
            source="hook",
        )
        assert "2026-01-02T00:00:00.0000000Z" == event_change(e)

    def test_falls_back_to_last_change(self) -> None:
        e = build_input_event(
            {"OrderId": "o", "State": "s", "LastChange": "2026-01-01T01:00:00+01:00"}, source="hook"
        )
        assert "2026-01-01T00:00:00.0000000Z" == event_change(e)

    def test_unparsable_is_none(self) -> None:
        e = build_input_event({"OrderId": "o", "State": "s", "LastChange": "yesterday"}, source="hook")
        assert None is event_change(e)


class TestAssess:
    """An event older than the newest emitted change of its order is late and names the newer state."""

    def test_first_event_is_on_time(self) -> None:
        assert ON_TIME == assess("2026-01-01T00:00:00.0000000Z", None, None)

    def test_newer_event_is_on_time(self) -> None:
        assert ON_TIME == assess("2026-01-02T00:00:00.0000000Z", "handling", "2026-01-01T00:00:00.0000000Z")

    def test_same_moment_is_on_time(self) -> None:
        assert ON_TIME == assess("2026-01-01T00:00:00.0000000Z", "handling", "2026-01-01T00:00:00.0000000Z")

    def test_older_event_is_late(self) -> None:
        expected = Lateness(late=True, newer_state="invoiced", newer_change="2026-01-02T00:00:00.0000000Z")
        assert expected == assess("2026-01-01T00:00:00.0000000Z", "invoiced", "2026-01-02T00:00:00.0000000Z")

    def test_unknown_moment_is_on_time(self) -> None:
        assert ON_TIME == assess(None, "invoiced", "2026-01-02T00:00:00.0000000Z")
