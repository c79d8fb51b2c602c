"""`vtex-bridge feed show|set|delete` against the simulator, with the same filter checks as the hook."""

from __future__ import annotations

import pytest

from bridge.vtex.config_models import EXIT_AUTH, EXIT_BAD_REQUEST, EXIT_CONFLICT, EXIT_NOT_FOUND
from simulator.server import SimHandle
from testkit.cli import cli


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sim: SimHandle) -> SimHandle:
    monkeypatch.setenv("VTEX_BRIDGE_VTEX_BASE_URL", sim.base_url)
    monkeypatch.setenv("VTEX_BRIDGE_LOG_FORMAT", "text")
    return sim


class TestFeedConfig:
    """`feed set` writes filter and queue settings; `show` prints them with the queue depth."""

    async def test_set_show_delete(self, env: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = await cli(
            capsys, "feed", "set", "--status", "ready-for-handling,invoiced",
            "--visibility-timeout", "120", "--retention", "86400",
        )  # fmt: skip
        assert 0 == code and "visibility 120 s, retention 86400 s" in err
        code, out, err = await cli(capsys, "feed", "show")
        assert 0 == code
        assert (
            '"visibilityTimeoutInSeconds": 120' in out and '"messageRetentionPeriodInSeconds": 86400' in out
        )
        assert '"ready-for-handling"' in out and "queue: 0 message(s)" in err
        assert 0 == (await cli(capsys, "feed", "delete"))[0]
        code, _, err = await cli(capsys, "feed", "show")
        assert EXIT_NOT_FOUND == code and "no feed is configured" in err

    async def test_default_filter_is_the_hooks(
        self, env: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_CONTROL_HOOK_EXPRESSION", 'status = "invoiced"')
        assert 0 == (await cli(capsys, "feed", "set"))[0]
        feed = env.store.get_feed(env.config.app_key)
        assert feed is not None
        assert {"type": "FromOrders", "expression": 'status = "invoiced"', "disableSingleFire": False} == (
            feed.to_json(0.0)["filter"]
        )

    async def test_refusals(self, env: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = await cli(capsys, "feed", "set", "--status", "handling", "--disable-single-fire")
        assert EXIT_CONFLICT == code and "mutually exclusive" in err
        code, _, err = await cli(capsys, "feed", "set", "--retention", "1209601")
        assert EXIT_BAD_REQUEST == code and "14 days" in err
        code, _, err = await cli(capsys, "feed", "set", "--expression", "$count(items[")
        assert EXIT_BAD_REQUEST == code and "invalid JSONata" in err
        code, _, err = await cli(capsys, "feed", "set", "--status", "handlin")
        assert 0 == code and "warning: 'handlin' is not a known VTEX order status" in err

    async def test_delete_without_feed_and_bad_credentials(
        self, env: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(capsys, "feed", "delete")
        assert EXIT_NOT_FOUND == code and "feed set" in err
        monkeypatch.setenv("VTEX_APP_TOKEN", "tok-should-not-print")
        code, out, err = await cli(capsys, "feed", "show")
        assert EXIT_AUTH == code and "tok-should-not-print" not in out + err

    async def test_poll_refuses_a_lot_above_ten(
        self, env: SimHandle, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(capsys, "feed", "poll", "--maxlot", "11")
        assert 2 == code and "1..10" in err
