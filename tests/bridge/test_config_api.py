"""The hook/feed configuration client and its request models behave like VTEX, against the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.vtex.config_api import ConfigApiClient, error_for
from bridge.vtex.config_models import (
    EXIT_AUTH,
    EXIT_BAD_REQUEST,
    EXIT_CONFLICT,
    EXIT_NOT_FOUND,
    EXIT_RATE_LIMITED,
    EXIT_UNAVAILABLE,
    FeedConfig,
    FeedItem,
    FeedQueue,
    HookConfig,
    OrdersFilter,
    VtexAuthError,
    VtexBadRequest,
    VtexConflict,
    VtexNotFound,
    VtexRateLimited,
    VtexUnavailable,
    WorkflowFilter,
    build_filter,
    filter_from_json,
    status_warnings,
    validate_hook_url,
)
from simulator.server import SimHandle
from tests.support.sim import HookReceiver, SimFactory

SECRET = "s3cr3t-hook-value"


def client_for(sim: SimHandle, token: str | None = None) -> ConfigApiClient:
    return ConfigApiClient(
        base_url=sim.base_url,
        app_key=sim.config.app_key,
        app_token=token if token is not None else sim.config.app_token,
        timeout_s=5.0,
    )


class TestFilters:
    """Filters are built and refused with VTEX's own rules (409 mixed, 400 empty)."""

    def test_statuses_make_a_workflow_filter(self) -> None:
        assert WorkflowFilter(("handling", "invoiced")) == build_filter(
            statuses=["handling", " invoiced", "handling"]
        )

    def test_expression_makes_an_orders_filter(self) -> None:
        expected = OrdersFilter('status = "invoiced"', False)
        assert expected == build_filter(expression='status = "invoiced"')

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"statuses": ["handling"], "expression": "x"},
            {"statuses": ["handling"], "disable_single_fire": False},
            {"filter_type": "FromWorkflow", "expression": "x", "statuses": ["handling"]},
            {"filter_type": "FromOrders", "statuses": ["handling"], "expression": "x"},
        ],
    )
    def test_mixing_is_a_local_409(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(VtexConflict) as caught:
            build_filter(**kwargs)
        assert (409, True, EXIT_CONFLICT) == (caught.value.status, caught.value.local, caught.value.exit_code)

    def test_empty_filter_is_a_local_400(self) -> None:
        with pytest.raises(VtexBadRequest):
            build_filter()
        with pytest.raises(VtexBadRequest):
            build_filter(filter_type="FromOrders", disable_single_fire=True)

    def test_vtex_json_round_trips(self) -> None:
        flt = OrdersFilter("$count(items) > 1", True)
        assert flt == filter_from_json(flt.to_json())
        with pytest.raises(VtexConflict):
            filter_from_json({"type": "FromWorkflow", "status": ["handling"], "disableSingleFire": False})

    def test_unknown_statuses_warn(self) -> None:
        warnings = status_warnings(["handling", "handlng", "waiting-ffmt-authorization"], for_hook=True)
        assert 2 == len(warnings)
        assert "'handlng' is not a known VTEX order status" in warnings[0]
        assert [] == status_warnings(["waiting-ffmt-authorization"], for_hook=False)


class TestModels:
    """URLs, queue settings and feed items are checked before anything is sent."""

    def test_http_url_is_refused_unless_allowed(self) -> None:
        with pytest.raises(VtexBadRequest, match="only https"):
            validate_hook_url("http://example.com/hook")
        assert "http://127.0.0.1:1/h" == validate_hook_url("http://127.0.0.1:1/h", allow_http=True)
        with pytest.raises(VtexBadRequest):
            validate_hook_url("ftp://example.com/hook", allow_http=True)

    def test_retention_is_bounded_to_14_days(self) -> None:
        with pytest.raises(VtexBadRequest):
            FeedQueue(240, 1_209_601)
        with pytest.raises(VtexBadRequest):
            FeedQueue(0, 345600)
        expected = {"visibilityTimeoutInSeconds": 240, "messageRetentionPeriodInSeconds": 345600}
        assert expected == FeedQueue().to_json()

    def test_hook_config_repr_hides_the_secret(self) -> None:
        config = HookConfig(WorkflowFilter(("handling",)), "https://x.example/h", {"X-Secret": SECRET})
        assert SECRET not in repr(config)
        assert {"X-Secret": SECRET} == config.to_json()["hook"]["headers"]

    def test_unusable_feed_item_is_flagged_not_raised(self) -> None:
        item = FeedItem.from_json({"handle": "h1", "eventId": "E1", "state": "handling"})
        assert "item lacks orderId, lastChange" == item.problem
        assert "not an object" in (FeedItem.from_json(["x"]).problem or "")

    def test_feed_item_repr_hides_the_handle_and_flags_invalid_ids(self) -> None:
        item = FeedItem.from_json(
            {"handle": "AQEBhandle-receipt", "orderId": "v1-01#x", "lastChange": "2026-11-25T03:00:00Z"}
        )
        assert "AQEBhandle-receipt" not in repr(item)
        assert (item.problem or "").startswith("OrderId may hold only letters")


class TestErrorMapping:
    """Every VTEX status maps to a typed error with a hint and its exit code."""

    @pytest.mark.parametrize(
        ("status", "exit_code", "hint_part"),
        [
            (400, EXIT_BAD_REQUEST, "ping"),
            (401, EXIT_AUTH, "VTEX_APP_TOKEN"),
            (403, EXIT_AUTH, "Feed v3 and Hook Admin"),
            (404, EXIT_NOT_FOUND, "3 days"),
            (409, EXIT_CONFLICT, "mutually exclusive"),
            (429, EXIT_RATE_LIMITED, "minute"),
            (503, EXIT_UNAVAILABLE, "retry"),
        ],
    )
    def test_status_to_error(self, status: int, exit_code: int, hint_part: str) -> None:
        body = b'{"error":{"code":"1","message":"VTEX said no","exception":null}}'
        error = error_for(status, body, what="hook set")
        assert (status, exit_code) == (error.status, error.exit_code)
        assert hint_part in error.hint
        assert "VTEX said no" in str(error)


class TestClientAgainstSimulator:
    """The client reads, writes and deletes hook and feed configurations on the simulator."""

    async def test_hook_lifecycle(self, sim: SimHandle, hook_receiver: HookReceiver) -> None:
        async with client_for(sim) as client:
            assert await client.get_hook_config() is None
            config = HookConfig(WorkflowFilter(("handling", "invoiced")), hook_receiver.url, {"X-S": SECRET})
            await client.set_hook_config(config)
            shown = await client.get_hook_config()
            assert shown is not None
            assert config.filter == filter_from_json(shown["filter"])
            assert hook_receiver.url == shown["hook"]["url"]
            assert SECRET == hook_receiver.pings[0].headers["X-S"]
            await client.delete_hook_config()
            assert await client.get_hook_config() is None
            with pytest.raises(VtexNotFound):
                await client.delete_hook_config()

    async def test_failed_ping_is_a_400_with_a_hint(
        self, sim: SimHandle, hook_receiver: HookReceiver
    ) -> None:
        hook_receiver.ping_status = 500
        async with client_for(sim) as client:
            with pytest.raises(VtexBadRequest) as caught:
                await client.set_hook_config(HookConfig(WorkflowFilter(("handling",)), hook_receiver.url))
        assert "Unable to check address" in str(caught.value)
        assert "ping" in caught.value.hint

    async def test_wrong_token_is_an_auth_error_without_the_token(self, sim: SimHandle) -> None:
        async with client_for(sim, token="wrong-token-value") as client:
            with pytest.raises(VtexAuthError) as caught:
                await client.get_feed_config()
        assert 403 == caught.value.status
        assert "wrong-token-value" not in caught.value.user_message()
        assert "wrong-token-value" not in repr(client)

    async def test_throttling_is_rate_limited_with_retry_after(self, sim_factory: SimFactory) -> None:
        sim = await sim_factory(rate_limit_per_minute=2)
        async with client_for(sim) as client:
            with pytest.raises(VtexRateLimited) as caught:
                for _ in range(5):
                    await client.get_feed_config()
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1

    async def test_unreachable_vtex_is_unavailable(self) -> None:
        client = ConfigApiClient(base_url="http://127.0.0.1:9", app_key="k", app_token="t", timeout_s=2.0)
        async with client:
            with pytest.raises(VtexUnavailable):
                await client.get_hook_config()

    async def test_feed_config_and_items(self, sim_factory: SimFactory) -> None:
        sim = await sim_factory(time_compression=1000.0)
        async with client_for(sim) as client:
            with pytest.raises(VtexNotFound, match="feed read"):
                await client.read_feed(10)
            await client.set_feed_config(
                FeedConfig(WorkflowFilter(("payment-pending",)), FeedQueue(240, 345600))
            )
            shown = await client.get_feed_config()
            assert shown is not None and 240 == shown["queue"]["visibilityTimeoutInSeconds"]
            for transition in sim.workload(orders=3).transitions():
                sim.emit(transition)
            items = await client.read_feed(10)
            assert items and all(i.problem is None and i.state == "payment-pending" for i in items)
            await client.commit_feed([i.handle for i in items])
            assert [] == await client.read_feed(10)
            with pytest.raises(ValueError):
                await client.read_feed(11)
            await client.delete_feed_config()
            assert await client.get_feed_config() is None
