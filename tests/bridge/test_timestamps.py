"""VTEX timestamps are canonicalized without losing the 7th fractional digit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.timestamps import InvalidTimestamp, canonical_timestamp, format_vtex_timestamp, parse_timestamp


class TestCanonicalTimestamp:
    """All spellings of one instant give one string."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2019-08-14T17:11:39.2550122Z", "2019-08-14T17:11:39.2550122Z"),
            ("2024-02-04T20:09:43.899958+00:00", "2024-02-04T20:09:43.8999580Z"),
            ("2024-02-04T17:09:43.899958-03:00", "2024-02-04T20:09:43.8999580Z"),
            ("2024-02-04T20:09:43", "2024-02-04T20:09:43.0000000Z"),
            ("2024-02-04T23:30:00+0330", "2024-02-04T20:00:00.0000000Z"),
        ],
    )
    def test_forms(self, text: str, expected: str) -> None:
        assert expected == canonical_timestamp(text)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "yesterday",
            "2024-02-04",
            "2024-13-99T99:99:99Z",
            "2019-12-31T23:59:60Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-12:00",
        ],
    )
    def test_rejects_garbage(self, text: str) -> None:
        with pytest.raises(InvalidTimestamp):
            canonical_timestamp(text)

    def test_format_and_parse_round_trip(self) -> None:
        moment = datetime(2026, 11, 25, 1, 2, 3, 456789, tzinfo=UTC)
        text = format_vtex_timestamp(moment)
        assert text == "2026-11-25T01:02:03.4567890Z"
        assert moment == parse_timestamp(text)
