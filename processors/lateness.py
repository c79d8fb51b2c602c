"""Late-event detection: is this notification older than one already emitted for the same order?

The moment of an event is its CurrentChange (when the order entered this state), else its LastChange
(REFERENCE.md section 6; the guide's examples omit CurrentChange). Canonical timestamps (fixed-width UTC
text) compare correctly as strings. A late event is still emitted, flagged, naming the newer state.
"""

from __future__ import annotations

from bridge.events import InputEvent, Lateness
from bridge.timestamps import InvalidTimestamp, canonical_timestamp

ON_TIME = Lateness()


def event_change(event: InputEvent) -> str | None:
    """Return the canonical moment of `event`, or None when neither timestamp parses."""
    for raw in (event.current_change, event.last_change):
        if raw:
            try:
                return canonical_timestamp(raw)
            except InvalidTimestamp:
                continue
    return None


def assess(change: str | None, newest_state: str | None, newest_change: str | None) -> Lateness:
    """Return the lateness of an event at `change` given the newest change already emitted."""
    if change is None or newest_change is None or change >= newest_change:
        return ON_TIME
    return Lateness(late=True, newer_state=newest_state, newer_change=newest_change)
