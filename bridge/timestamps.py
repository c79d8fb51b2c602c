"""Canonical form of VTEX timestamps, so the same instant always hashes to the same event id.

Hooks and Feed v3 write `LastChange` as UTC with 7 fractional digits (`2019-08-14T17:11:39.2550122Z`),
order documents as `+00:00` offsets with 6 digits. Python's datetime keeps only microseconds, so the
fraction is carried as text and the rest converted to UTC: no digit is lost and equal instants written
differently compare equal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

_PATTERN: Final = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<zone>Z|z|[+-]\d{2}:?\d{2})?$"
)
#: The canonical form itself: what hooks carry and what every record stores, so the common case only
#: needs its calendar fields checked (second 60, February 30), not a rebuild.
_CANONICAL: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z")


class InvalidTimestamp(ValueError):
    """Raised for a string that is not an ISO-8601 date-time."""


def canonical_timestamp(text: str) -> str:
    """Return `text` as `YYYY-MM-DDTHH:MM:SS.fffffffZ` in UTC (a missing zone means UTC)."""
    if _CANONICAL.fullmatch(text):
        try:
            datetime.fromisoformat(text[:19])
        except ValueError as exc:
            raise InvalidTimestamp(f"not a representable date-time: {text!r} ({exc})") from exc
        return text
    match = _PATTERN.match(text.strip())
    if match is None:
        raise InvalidTimestamp(f"not an ISO-8601 date-time: {text!r}")
    b = match["base"]
    try:
        # datetime() instead of strptime: same validation, a tenth of the cost on the hook path.
        base = datetime(int(b[0:4]), int(b[5:7]), int(b[8:10]), int(b[11:13]), int(b[14:16]), int(b[17:19]))
        utc = base - _offset(match["zone"])
    except (ValueError, OverflowError) as exc:
        # Leap seconds, year 0, an offset that leaves the calendar: well-formed text, impossible instant.
        raise InvalidTimestamp(f"not a representable date-time: {text!r} ({exc})") from exc
    fraction = (match["fraction"] or "").ljust(7, "0")[:7]
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


def parse_timestamp(text: str) -> datetime:
    """Return an aware UTC datetime for `text` (sub-microsecond digits are dropped)."""
    canonical = canonical_timestamp(text)
    return datetime.fromisoformat(canonical[:26]).replace(tzinfo=UTC)


def format_vtex_timestamp(moment: datetime) -> str:
    """Return `moment` the way VTEX writes hook timestamps (UTC, 7 fractional digits, `Z`)."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def _offset(zone: str | None) -> timedelta:
    if zone is None or zone in ("Z", "z"):
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
