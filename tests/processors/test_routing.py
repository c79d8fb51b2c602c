"""Unit tests of routing states to downstream topics."""

from __future__ import annotations

import pytest

from bridge.statuses import KNOWN_STATUSES
from processors.routing import Route, Router, RoutingConfigError

PREFIX = "vtex.orders.status."


class TestRouter:
    """Known statuses get their topic (or their group's); anything else goes to `unknown`."""

    def test_known_status_has_its_own_topic(self) -> None:
        assert Route("invoiced", PREFIX + "invoiced", True) == Router(PREFIX).route("invoiced")

    @pytest.mark.parametrize("state", ["", "null", None, "brand-new-status", "INVOICED"])
    def test_unknown_states_go_to_unknown(self, state: str | None) -> None:
        assert Route("unknown", PREFIX + "unknown", False) == Router(PREFIX).route(state)

    def test_groups_collect_statuses(self) -> None:
        router = Router(PREFIX, {"cancellation": ["request-cancel", "cancel", "canceled"]})
        assert [PREFIX + "cancellation"] * 3 == [
            router.route(s).topic for s in ("request-cancel", "cancel", "canceled")
        ]
        assert PREFIX + "invoiced" == router.route("invoiced").topic

    def test_topics_cover_every_route(self) -> None:
        router = Router(PREFIX, {"cancellation": ["cancel", "canceled"]})
        topics = set(router.topics())
        assert {router.route(s).topic for s in KNOWN_STATUSES} | {PREFIX + "unknown"} == topics
        assert PREFIX + "cancel" not in topics

    @pytest.mark.parametrize(
        "groups",
        [
            {"g": ["not-a-status"]},
            {"a": ["cancel"], "b": ["cancel"]},
            {"unknown": ["cancel"]},
            {"": ["cancel"]},
        ],
    )
    def test_inconsistent_groups_are_refused(self, groups: dict[str, list[str]]) -> None:
        with pytest.raises(RoutingConfigError):
            Router(PREFIX, groups)
