"""`hook` and `feed` per account (`--account`, `--all-accounts`) against a simulator serving two accounts,
`hook set|ensure` and `feed set` never narrowing a configured filter silently, and the filter's warnings
printed once per run."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from bridge.cli.commands.filter_guard import EXIT_FILTER_NARROWS
from bridge.cli.commands.hook.silence import EXIT_SILENT, LAST_HOOK_METRIC
from bridge.statuses import HOOK_FILTER_STATUSES
from bridge.vtex.config_models import EXIT_AUTH, EXIT_CONFLICT, EXIT_NOT_FOUND
from simulator.config import SimAccount
from simulator.server import SimHandle
from testkit.cli import cli
from tests.support.sim import HookReceiver, SimFactory

SECRET = "hook-secret-of-simaccount-4242"
OTHER_SECRET = "hook-secret-of-storeb-8484"
HEADER = "X-Bridge-Secret"
STOREB = SimAccount.made_up("storeb")


def write_accounts(path: Path, *, token: str = STOREB.app_token) -> Path:
    entry = {
        "account": STOREB.name,
        "app_key": STOREB.app_key,
        "app_token": token,
        "header": HEADER,
        "secrets": [OTHER_SECRET],
    }
    path.write_bytes(orjson.dumps([entry]))
    return path


@pytest.fixture
async def two(
    sim_factory: SimFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[SimHandle]:
    """A simulator serving simaccount and storeb; settings naming both (simaccount by the variables)."""
    sim = await sim_factory(accounts=(STOREB,))
    monkeypatch.setenv("VTEX_BRIDGE_VTEX_BASE_URL", sim.base_url_template)
    monkeypatch.setenv("VTEX_ACCOUNT", sim.config.account)
    monkeypatch.setenv("VTEX_BRIDGE_HOOK_SECRET", SECRET)
    monkeypatch.setenv("VTEX_BRIDGE_HOOK_SECRET_HEADER", HEADER)
    monkeypatch.setenv("VTEX_BRIDGE_PROFILE", "dev")
    monkeypatch.setenv("VTEX_BRIDGE_LOG_FORMAT", "text")
    monkeypatch.setenv("VTEX_BRIDGE_ACCOUNTS_FILE", str(write_accounts(tmp_path / "accounts.json")))
    yield sim


def ensure(receiver: HookReceiver, *extra: str) -> tuple[str, ...]:
    return ("hook", "ensure", "--url", receiver.url, "--allow-http", "--skip-silence-check", *extra)


class TestHookPerAccount:
    """Each account's hook is configured with its own appKey and secret; every line names its account."""

    async def test_ensure_all_accounts(
        self, two: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(capsys, *ensure(hook_receiver, "--all-accounts"))
        assert 0 == code, err
        assert "account simaccount: hook configured (no hook was configured)" in err
        assert "account storeb: hook configured (no hook was configured)" in err
        assert {SECRET, OTHER_SECRET} == {p.headers[HEADER] for p in hook_receiver.pings}
        storeb = two.account("storeb")
        for handle in (two, storeb):
            lifecycle = handle.workload(1, mix={"happy": 1.0}).lifecycles[0]
            handle.emit(lifecycle.transitions[0])
            await handle.sender.drain(timeout=10)
        origins = {(b["Origin"]["Account"], b["Origin"]["Key"]) for b in hook_receiver.accepted_bodies()}
        assert {(two.config.account, two.config.app_key), ("storeb", STOREB.app_key)} == origins
        assert {"storeb": OTHER_SECRET, "simaccount": SECRET} == {
            r.body["Origin"]["Account"]: r.headers[HEADER] for r in hook_receiver.received
        }
        code, _, err = await cli(capsys, *ensure(hook_receiver, "--all-accounts"))
        assert 0 == code and 2 == err.count("hook unchanged")

    async def test_accounts_without_secret_or_token_are_passed_over(
        self,
        two: SimHandle,
        hook_receiver: HookReceiver,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        path = write_accounts(tmp_path / "accounts.json")
        feed_only = {"account": "storec", "app_key": "vtexappkey-storec", "app_token": "storec-token"}
        hooks_only = {"account": "stored", "app_key": "vtexappkey-stored", "secrets": [OTHER_SECRET]}
        path.write_bytes(orjson.dumps([*orjson.loads(path.read_bytes()), feed_only, hooks_only]))
        code, _, err = await cli(capsys, *ensure(hook_receiver, "--all-accounts"))
        assert 0 == code, err
        assert "account storec: skipped: no hook secret configured" in err
        assert "account stored: skipped: no app token configured" in err
        assert "account storeb: hook configured" in err and "account simaccount: hook configured" in err
        code, _, err = await cli(capsys, "feed", "show", "--all-accounts")
        assert EXIT_NOT_FOUND == code and "account stored: skipped: no app token configured" in err

    async def test_show_one_account(
        self, two: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert 0 == (await cli(capsys, *ensure(hook_receiver, "--account", "storeb")))[0]
        code, out, err = await cli(capsys, "hook", "show", "--account", "storeb")
        assert 0 == code
        shown = orjson.loads(out)
        assert "storeb" == shown["account"] and OTHER_SECRET not in out and STOREB.app_key not in out
        code, _, err = await cli(capsys, "hook", "show")  # the default account has none
        assert EXIT_NOT_FOUND == code and "account simaccount: no hook is configured" in err

    async def test_unknown_account(self, two: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = await cli(capsys, "hook", "show", "--account", "nostore")
        assert 2 == code
        assert "unknown account 'nostore'; configured: simaccount, storeb" in err

    async def test_one_failing_account_does_not_stop_the_others(
        self,
        two: SimHandle,
        hook_receiver: HookReceiver,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        write_accounts(tmp_path / "accounts.json", token="not-storeb-token")
        code, _, err = await cli(capsys, *ensure(hook_receiver, "--all-accounts"))
        assert EXIT_AUTH == code
        assert "account simaccount: hook configured" in err
        assert "account storeb: hook show: VTEX answered 403" in err and "1 of 2 account(s) failed" in err
        assert "not-storeb-token" not in err
        assert two.store.get_hook(two.config.app_key) is not None

    async def test_fail_on_silence_per_account(
        self, two: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        body = f'# TYPE {LAST_HOOK_METRIC} gauge\n{LAST_HOOK_METRIC}{{account="simaccount"}} {time.time()}\n'

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(text=body, content_type="text/plain")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            argv = ("hook", "ensure", "--url", hook_receiver.url, "--allow-http", "--fail-on-silence",
                    "--ingress-metrics-url", url)  # fmt: skip
            code, _, err = await cli(capsys, *argv)
            assert 0 == code and "warning" not in err  # the default account heard from just now
            code, _, err = await cli(capsys, *argv, "--all-accounts")
        finally:
            await runner.cleanup()
        assert EXIT_SILENT == code
        assert (
            "has received no hook for account storeb" in err
            and "account simaccount" not in err.split("warning")[-1]
        )


class TestFeedPerAccount:
    """`feed set|show|delete` act on the named account's feed only."""

    async def test_set_all_show_delete_one(self, two: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = await cli(capsys, "feed", "set", "--all-accounts")
        assert 0 == code and "account simaccount: feed configured" in err and "account storeb: feed" in err
        storeb = two.account("storeb")
        assert storeb.store.get_feed(STOREB.app_key) is not None
        assert two.store.get_feed(two.config.app_key) is not None
        code, out, err = await cli(capsys, "feed", "show", "--account", "storeb")
        assert 0 == code and "storeb" == orjson.loads(out)["account"] and "account storeb: queue:" in err
        assert 0 == (await cli(capsys, "feed", "delete", "--account", "storeb"))[0]
        assert storeb.store.get_feed(STOREB.app_key) is None
        assert two.store.get_feed(two.config.app_key) is not None

    async def test_poll_refuses_an_unusable_registry(
        self,
        two: SimHandle,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_ACCOUNTS_FILE", str(tmp_path / "missing.json"))
        code, _, err = await cli(capsys, "feed", "poll")
        assert 2 == code and "cannot read accounts file" in err


class TestFilterNeverNarrowedSilently:
    """The default filter notifies every change; a narrower one needs `--replace-filter`."""

    async def test_default_filter_notifies_every_state(
        self, two: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert 0 == (await cli(capsys, *ensure(hook_receiver)))[0]
        hook = two.store.get_hook(two.config.app_key)
        assert hook is not None
        assert {"type": "FromOrders", "expression": "$exists(orderId)", "disableSingleFire": True} == (
            hook.to_json(two.config.account)["filter"]
        )
        mix = {"payment_denied": 1.0, "null_state": 1.0, "unknown_status": 1.0}
        workload = two.workload(12, mix=mix)
        for transition in workload.transitions():
            two.emit(transition)
        await two.sender.drain(timeout=20)
        states = {body["State"] for body in hook_receiver.accepted_bodies()}
        assert {None, "payment-denied"} <= states
        assert states & {"waiting-for-payment-review", "shipping-on-hold"}
        assert len(workload) == len(hook_receiver.accepted_bodies())

    async def test_every_change_is_not_replaced_by_a_status_list_unasked(
        self, two: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert 0 == (await cli(capsys, *ensure(hook_receiver)))[0]
        statuses = ",".join(sorted(HOOK_FILTER_STATUSES))
        code, _, err = await cli(capsys, *ensure(hook_receiver, "--status", statuses))
        assert EXIT_FILTER_NARROWS == code
        assert "account simaccount: refusing to replace a hook filter that notifies more:" in err
        assert "now:     FromOrders `$exists(orderId)`, every change of every order" in err
        assert "desired: FromWorkflow, 23 status(es)" in err
        assert "payment-denied" in err and "null state" in err and "pass --replace-filter" in err
        hook = two.store.get_hook(two.config.app_key)
        assert hook is not None and "FromOrders" == hook.matcher.filter.to_json()["type"]
        assert 1 == len(hook_receiver.pings)  # nothing was posted
        code, _, err = await cli(capsys, *ensure(hook_receiver, "--status", statuses, "--replace-filter"))
        assert 0 == code and "account simaccount: replacing a hook filter that notifies more:" in err
        hook = two.store.get_hook(two.config.app_key)
        assert hook is not None and "FromWorkflow" == hook.matcher.filter.to_json()["type"]

    async def test_set_refuses_dropping_statuses_and_widening_passes(
        self, two: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        base = ("hook", "set", "--url", hook_receiver.url, "--allow-http")
        assert 0 == (await cli(capsys, *base, "--status", "handling,invoiced,canceled"))[0]
        code, _, err = await cli(capsys, *base, "--status", "invoiced")
        assert EXIT_FILTER_NARROWS == code and "no longer notified: status(es) handling, canceled" in err
        code, _, err = await cli(capsys, *base)  # the default: every change, wider than any list
        assert 0 == code and "refusing" not in err and "replacing" not in err


def feed_filter(sim: SimHandle, app_key: str) -> dict[str, Any]:
    """Return the filter of `app_key`'s feed as the simulator holds it."""
    feed = sim.store.get_feed(app_key)
    assert feed is not None
    return dict(feed.to_json(0.0)["filter"])


class TestFeedFilterNeverNarrowedSilently:
    """`feed set` follows the hook's rule: a narrower filter needs `--replace-filter`, per account."""

    async def test_every_change_is_not_replaced_by_a_status_list_unasked(
        self, two: SimHandle, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert 0 == (await cli(capsys, "feed", "set"))[0]  # the default: every change
        statuses = ",".join(sorted(HOOK_FILTER_STATUSES))
        code, _, err = await cli(capsys, "feed", "set", "--status", statuses)
        assert EXIT_FILTER_NARROWS == code
        assert "account simaccount: refusing to replace a feed filter that notifies more:" in err
        assert "now:     FromOrders `$exists(orderId)`, every change of every order" in err
        assert "payment-denied" in err and "null state" in err
        assert "vtex-bridge feed set: account simaccount: the desired filter would stop" in err
        assert "pass --replace-filter" in err and "feed configured" not in err
        assert "FromOrders" == feed_filter(two, two.config.app_key)["type"]
        code, _, err = await cli(capsys, "feed", "set", "--status", statuses, "--replace-filter")
        assert 0 == code and "account simaccount: replacing a feed filter that notifies more:" in err
        assert "account simaccount: feed configured: FromWorkflow" in err
        assert sorted(HOOK_FILTER_STATUSES) == sorted(feed_filter(two, two.config.app_key)["status"])

    async def test_per_account_narrowing_widening_and_equal(
        self, two: SimHandle, capsys: pytest.CaptureFixture[str]
    ) -> None:
        storeb = two.account("storeb")
        both = ("feed", "set", "--all-accounts")
        assert 0 == (await cli(capsys, *both, "--status", "handling,invoiced,canceled"))[0]
        widen = ("--status", "handling,invoiced,canceled,ready-for-handling")
        code, _, err = await cli(capsys, "feed", "set", "--account", "storeb", *widen)
        assert 0 == code and "refusing" not in err and "replacing" not in err
        code, _, err = await cli(capsys, *both, *widen, "--retention", "86400")  # wider, then equal
        assert 0 == code and "refusing" not in err and "replacing" not in err
        assert 2 == err.count("feed configured: FromWorkflow, visibility 240 s, retention 86400 s")

        code, _, err = await cli(capsys, *both, "--status", "invoiced")
        assert EXIT_FILTER_NARROWS == code
        assert "account simaccount: refusing to replace a feed filter" in err
        assert "account storeb: refusing to replace a feed filter" in err
        assert "no longer notified: status(es) handling, canceled, ready-for-handling" in err
        assert "vtex-bridge feed set: 2 of 2 account(s) failed" in err
        for sim, key in ((two, two.config.app_key), (storeb, STOREB.app_key)):
            assert 4 == len(feed_filter(sim, key)["status"])

        code, _, err = await cli(capsys, "feed", "set", "--account", "storeb", "--status", "invoiced",
                                 "--replace-filter")  # fmt: skip
        assert 0 == code and "account storeb: replacing a feed filter" in err
        assert ["invoiced"] == feed_filter(storeb, STOREB.app_key)["status"]
        assert 4 == len(feed_filter(two, two.config.app_key)["status"])


class TestStatusWarningsOncePerRun:
    """A warning about the configured statuses concerns the settings, not an account: printed once."""

    async def test_hook_ensure_all_accounts(
        self, two: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        statuses = "handling,handlng,waiting-ffmt-authorization"
        code, _, err = await cli(capsys, *ensure(hook_receiver, "--all-accounts", "--status", statuses))
        assert 0 == code, err
        assert "account simaccount: hook configured" in err and "account storeb: hook configured" in err
        assert 1 == err.count("warning: 'handlng' is not a known VTEX order status")
        assert 1 == err.count("warning: 'waiting-ffmt-authorization' is not in VTEX's documented hook")
        assert 2 == err.count("warning:"), err

    async def test_feed_set_all_accounts(self, two: SimHandle, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = await cli(capsys, "feed", "set", "--all-accounts", "--status", "handling,handlng")
        assert 0 == code, err
        assert "account simaccount: feed configured" in err and "account storeb: feed configured" in err
        assert 1 == err.count("warning:") and "'handlng' is not a known VTEX order status" in err

    async def test_a_refused_filter_is_reported_once(
        self, two: SimHandle, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ("feed", "set", "--all-accounts", "--status", "handling", "--disable-single-fire")
        code, _, err = await cli(capsys, *argv)
        assert EXIT_CONFLICT == code and 1 == err.count("mutually exclusive"), err
        assert two.store.get_feed(two.config.app_key) is None
