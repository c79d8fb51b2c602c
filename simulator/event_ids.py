"""The `event_id` the bridge must give each notification the simulator sends: the tests' oracle.

Written from the bridge's published record contract (README, "The records": the first 32 hex digits of
SHA-256 over OrderId, State and LastChange joined by U+001F, a null or empty State written `null`,
LastChange in the canonical UTC form `YYYY-MM-DDTHH:MM:SS.fffffffZ`), not by calling the bridge's own
function: a bug there then shows as ids the chaos checker cannot match, instead of being copied into
the expectations. The simulator writes every LastChange in that canonical form itself
(`format_vtex_timestamp`), so no other form needs handling here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

_CANONICAL: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z")
_SEPARATOR: Final = "\x1f"


def expected_event_id(order_id: str, state: object, last_change: str) -> str:
    """Return the id the bridge's contract gives (OrderId, State, LastChange) for a simulator event."""
    if not _CANONICAL.fullmatch(last_change):
        raise ValueError(f"the simulator writes canonical LastChange values, not {last_change!r}")
    written_state = "null" if state is None or state == "" else str(state)
    material = _SEPARATOR.join((order_id, written_state, last_change))
    return hashlib.sha256(material.encode()).hexdigest()[:32]
