"""Routing: which downstream topic an event's state goes to.

Every known status (`bridge.statuses.KNOWN_STATUSES`) has a topic `<prefix><status>` unless a configured
group (`worker_route_groups`, JSON `{"group": ["status", ...]}`) collects it into `<prefix><group>`.
Unknown statuses, "" and "null" go to `<prefix>unknown`: logged by the caller, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge.statuses import KNOWN_STATUSES, UNKNOWN_STATUS


class RoutingConfigError(ValueError):
    """The configured groups are inconsistent (a status in two groups, or an unknown status)."""


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the suffix: a status, a group name or "unknown"
    topic: str
    known: bool


class Router:
    """Map states to routes; built once from settings, immutable."""

    def __init__(self, prefix: str, groups: Mapping[str, Sequence[str]] | None = None) -> None:
        self._prefix = prefix
        suffix_of: dict[str, str] = {status: status for status in KNOWN_STATUSES}
        owner: dict[str, str] = {}
        for group, statuses in (groups or {}).items():
            if not group or group == UNKNOWN_STATUS:
                raise RoutingConfigError(f"invalid route group name {group!r}")
            for status in statuses:
                if status not in suffix_of:
                    raise RoutingConfigError(f"route group {group!r} names unknown status {status!r}")
                if status in owner:
                    raise RoutingConfigError(
                        f"status {status!r} is in groups {owner[status]!r} and {group!r}"
                    )
                owner[status] = group
                suffix_of[status] = group
        self._suffix_of = suffix_of

    def route(self, state: str | None) -> Route:
        suffix = self._suffix_of.get(state or "")
        if suffix is None:
            return Route(UNKNOWN_STATUS, self._prefix + UNKNOWN_STATUS, known=False)
        return Route(suffix, self._prefix + suffix, known=True)

    def topics(self) -> list[str]:
        """Return every downstream topic, sorted (for creating them at startup)."""
        return sorted({self._prefix + s for s in self._suffix_of.values()} | {self._prefix + UNKNOWN_STATUS})
