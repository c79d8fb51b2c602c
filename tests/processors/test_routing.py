"""Unit tests of routing states to downstream topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import load_settings
from bridge.statuses import KNOWN_STATUSES
from processors.routing import Route, Router, RoutingConfigError, router_for

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


class TestPerAccountTopics:
    """With `status_topic_account_prefix` each account gets its own topics; by default they share."""

    ACCOUNT_PREFIX = "vtex.orders.{account}.status."

    def test_each_account_its_own_topics(self) -> None:
        router = Router(PREFIX, account_prefix=self.ACCOUNT_PREFIX, accounts=("acme", "beta"))
        assert "vtex.orders.beta.status.invoiced" == router.route("invoiced", "beta").topic
        assert "vtex.orders.acme.status.unknown" == router.route("brand-new", "acme").topic
        topics = set(router.topics())
        assert {f"vtex.orders.{a}.status.{s}" for a in ("acme", "beta") for s in KNOWN_STATUSES} < topics
        assert not any(t.startswith(PREFIX) for t in topics)

    def test_shared_by_default(self) -> None:
        router = Router(PREFIX)
        assert PREFIX + "invoiced" == router.route("invoiced", "beta").topic
        assert [PREFIX] == router.prefixes()

    @pytest.mark.parametrize("prefix", ["vtex.orders.status.", "vtex.{account}.st@tus."])
    def test_bad_account_prefix(self, prefix: str) -> None:
        with pytest.raises(RoutingConfigError):
            Router(PREFIX, account_prefix=prefix, accounts=("acme",))

    def test_router_for_names_the_registry_accounts(self, tmp_path: Path) -> None:
        file = tmp_path / "accounts.json"
        file.write_text('[{"account": "beta", "app_key": "k", "app_token": "t"}]')
        settings = load_settings(
            vtex_account="acme", accounts_file=file, status_topic_account_prefix=self.ACCOUNT_PREFIX
        )
        assert ["vtex.orders.acme.status.", "vtex.orders.beta.status."] == router_for(settings).prefixes()
        file.write_text("[")
        with pytest.raises(RoutingConfigError, match="per-account status topics"):
            router_for(settings)
