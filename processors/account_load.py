"""Per-account load gauges read at scrape time: events in flight, and the age of the oldest one.

With several VTEX accounts one account's backlog must be visible apart from the others' (an alert per
account), and the lanes only know order keys: each key is mapped to its account's metric label
(a configured account, or `_unknown`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from bridge.events import InputEvent
from bridge.timestamps import InvalidTimestamp, parse_timestamp


class _Queued(Protocol):
    @property
    def event(self) -> InputEvent | None: ...


class _Lanes(Protocol):
    def pending_by_lane(self) -> Iterable[tuple[str, int]]: ...
    def items(self, key: str) -> tuple[Sequence[_Queued], Sequence[_Queued]]: ...


class AccountLoad:
    """The per-account in-flight and oldest-age gauges (`ProcessorMetrics.bind_account_in_flight`)."""

    def __init__(
        self, lanes: _Lanes, accounts: Callable[[], Iterable[str]], label: Callable[[str], str]
    ) -> None:
        """`accounts`: the configured account names; `label(key)`: an order key's account label."""
        self._lanes = lanes
        self._accounts = accounts
        self._label = label

    def in_flight(self) -> dict[str, float]:
        """Events in flight per account label (from the lanes' keys; read at scrape time)."""
        counts = dict.fromkeys(self._accounts(), 0.0)
        for key, pending in self._lanes.pending_by_lane():
            label = self._label(key)
            counts[label] = counts.get(label, 0.0) + pending
        return counts

    def oldest(self) -> dict[str, float]:
        """Age of each account's oldest event in flight (since the ingress received it; 0 = none)."""
        now = time.time()
        oldest = dict.fromkeys(self._accounts(), 0.0)
        for key, _pending in self._lanes.pending_by_lane():
            running, queued = self._lanes.items(key)
            head = running[0] if running else queued[0] if queued else None
            received = None if head is None or head.event is None else _received(head.event.received_at)
            if received is not None:
                label = self._label(key)
                oldest[label] = max(oldest.get(label, 0.0), now - received)
        return oldest


def _received(received_at: str) -> float | None:
    """Unix time of an event's `received_at` (None when it is missing or unreadable)."""
    try:
        return parse_timestamp(received_at).timestamp()
    except InvalidTimestamp:
        return None
