"""`vtex-bridge hook show|set|delete|ensure` against the simulator, including every refusal path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from bridge.cli.commands.hook import silence as hook_silence
from bridge.cli.commands.hook.silence import EXIT_SILENT, LAST_HOOK_METRIC
from bridge.local_kafka import free_port
from bridge.vtex.config_models import (
    EXIT_AUTH,
    EXIT_BAD_REQUEST,
    EXIT_CONFLICT,
    EXIT_NOT_FOUND,
    EXIT_RATE_LIMITED,
)
from simulator.server import SimHandle
from testkit.cli import cli
from tests.support.sim import HookReceiver, SimFactory

SECRET = "hook-secret-from-settings-4242"
HEADER = "X-Bridge-Secret"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sim: SimHandle) -> SimHandle:
    """Point the settings at the simulator, with a known hook secret."""
    point_at(monkeypatch, sim)
    return sim


def point_at(monkeypatch: pytest.MonkeyPatch, sim: SimHandle) -> None:
    monkeypatch.setenv("VTEX_BRIDGE_VTEX_BASE_URL", sim.base_url)
    monkeypatch.setenv("VTEX_BRIDGE_HOOK_SECRET", SECRET)
    monkeypatch.setenv("VTEX_BRIDGE_HOOK_SECRET_HEADER", HEADER)
    monkeypatch.setenv("VTEX_BRIDGE_LOG_FORMAT", "text")


@pytest.fixture
async def metrics_server() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Serve a fake ingress /metrics whose body the test sets through the returned dict."""
    content = {"body": ""}

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=content["body"], content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}/metrics", content
    finally:
        await runner.cleanup()


def gauge(account: str, value: float) -> str:
    return f'# TYPE {LAST_HOOK_METRIC} gauge\n{LAST_HOOK_METRIC}{{account="{account}"}} {value}\n'


class TestHookSet:
    """`hook set` configures the hook with the secret from settings or a file, never from argv."""

    async def test_set_then_show_masks_the_secret(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = await cli(
            capsys, "hook", "set", "--url", hook_receiver.url, "--allow-http", "--status", "handling,invoiced"
        )
        assert (0, "") == (code, out)
        assert SECRET == hook_receiver.pings[-1].headers[HEADER]
        assert SECRET not in err
        code, out, _ = await cli(capsys, "hook", "show")
        assert 0 == code
        assert SECRET not in out and env.config.app_key not in out
        assert '"handling"' in out and "**********" in out

    async def test_expression_filter(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, _ = await cli(
            capsys, "hook", "set", "--url", hook_receiver.url, "--allow-http",
            "--expression", 'status = "invoiced"', "--disable-single-fire",
        )  # fmt: skip
        assert 0 == code
        shown = env.store.get_hook(env.config.app_key)
        assert shown is not None
        assert {"type": "FromOrders", "expression": 'status = "invoiced"', "disableSingleFire": True} == (
            shown.to_json(env.config.account)["filter"]
        )

    async def test_secret_file(
        self, env: SimHandle, hook_receiver: HookReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        secret_file = tmp_path / "secret"
        secret_file.write_text("secret-from-file\n")
        code, _, err = await cli(
            capsys,
            "hook",
            "set",
            "--url",
            hook_receiver.url,
            "--allow-http",
            "--secret-file",
            str(secret_file),
        )
        assert 0 == code
        assert "secret-from-file" == hook_receiver.pings[-1].headers[HEADER]
        assert "secret-from-file" not in err
        code, _, err = await cli(
            capsys,
            "hook",
            "set",
            "--url",
            hook_receiver.url,
            "--allow-http",
            "--secret-file",
            str(tmp_path / "no"),
        )
        assert 2 == code and "cannot read the secret file" in err

    async def test_unknown_status_warns(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(
            capsys, "hook", "set", "--url", hook_receiver.url, "--allow-http", "--status", "handling,invoicd"
        )
        assert 0 == code
        assert "warning: 'invoicd' is not a known VTEX order status" in err


class TestHookRefusals:
    """Requests VTEX would refuse are refused locally with its meaning; VTEX's refusals are explained."""

    async def test_http_url_without_opt_out_is_refused_locally(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(capsys, "hook", "set", "--url", hook_receiver.url, "--status", "handling")
        assert EXIT_BAD_REQUEST == code
        assert "only https scheme is accepted" in err and "hint:" in err
        assert [] == hook_receiver.pings

    async def test_mixed_filter_is_refused_locally(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(
            capsys, "hook", "set", "--url", hook_receiver.url, "--allow-http",
            "--status", "handling", "--expression", 'status = "handling"',
        )  # fmt: skip
        assert EXIT_CONFLICT == code
        assert "mutually exclusive" in err
        assert [] == hook_receiver.pings

    async def test_bad_expression_is_refused_locally(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(
            capsys, "hook", "set", "--url", hook_receiver.url, "--allow-http", "--expression", "status = "
        )
        assert EXIT_BAD_REQUEST == code
        assert "invalid JSONata expression" in err

    async def test_failed_ping(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        hook_receiver.ping_status = 503
        code, _, err = await cli(capsys, "hook", "set", "--url", hook_receiver.url, "--allow-http")
        assert EXIT_BAD_REQUEST == code
        assert "Unable to check address" in err and "ping" in err

    async def test_wrong_credentials(
        self, env: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("VTEX_APP_TOKEN", "not-the-token-123")
        code, out, err = await cli(capsys, "hook", "show")
        assert EXIT_AUTH == code
        assert "Feed v3 and Hook Admin" in err
        assert "not-the-token-123" not in out + err

    async def test_show_and_delete_without_hook(
        self, env: SimHandle, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(capsys, "hook", "show")
        assert EXIT_NOT_FOUND == code and "no hook is configured" in err
        code, _, err = await cli(capsys, "hook", "delete")
        assert EXIT_NOT_FOUND == code and "3 days" in err

    async def test_throttled(
        self,
        sim_factory: SimFactory,
        hook_receiver: HookReceiver,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        sim = await sim_factory(rate_limit_per_minute=1)
        point_at(monkeypatch, sim)
        code, _, err = await cli(
            capsys, "hook", "ensure", "--url", hook_receiver.url, "--allow-http", "--skip-silence-check"
        )
        assert EXIT_RATE_LIMITED == code
        assert "wait about a minute" in err


class TestHookEnsure:
    """`hook ensure` writes only when something differs and re-creates a hook VTEX dropped."""

    async def test_idempotent(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ("hook", "ensure", "--url", hook_receiver.url, "--allow-http", "--skip-silence-check")
        code, _, err = await cli(capsys, *argv)
        assert 0 == code and "hook configured (no hook was configured)" in err
        assert 1 == len(hook_receiver.pings)
        code, _, err = await cli(capsys, *argv)
        assert 0 == code and "hook unchanged" in err
        assert 1 == len(hook_receiver.pings)  # no POST: every POST pings
        code, _, err = await cli(capsys, *argv, "--status", "invoiced", "--replace-filter")
        assert 0 == code and "filter differs" in err
        assert 2 == len(hook_receiver.pings)
        code, _, err = await cli(capsys, *argv, "--status", "invoiced,handling")
        assert 0 == code and "statuses differ" in err
        assert 3 == len(hook_receiver.pings)

    async def test_recreates_a_dropped_hook(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ("hook", "ensure", "--url", hook_receiver.url, "--allow-http", "--skip-silence-check")
        assert 0 == (await cli(capsys, *argv))[0]
        env.store.hooks.clear()  # what VTEX does after 3 days without notifications
        code, _, err = await cli(capsys, *argv)
        assert 0 == code and "no hook was configured" in err
        assert env.store.get_hook(env.config.app_key) is not None

    async def test_rotated_secret_is_pushed(
        self,
        env: SimHandle,
        hook_receiver: HookReceiver,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        argv = ("hook", "ensure", "--url", hook_receiver.url, "--allow-http", "--skip-silence-check")
        assert 0 == (await cli(capsys, *argv))[0]
        monkeypatch.setenv("VTEX_BRIDGE_HOOK_SECRET", "rotated-secret")
        code, _, err = await cli(capsys, *argv)
        assert 0 == code and "headers differ" in err
        assert "rotated-secret" == hook_receiver.pings[-1].headers[HEADER]

    async def test_masked_header_values_count_as_unchanged(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ("hook", "ensure", "--url", hook_receiver.url, "--allow-http", "--skip-silence-check")
        assert 0 == (await cli(capsys, *argv))[0]
        hook = env.store.get_hook(env.config.app_key)
        assert hook is not None
        hook.headers[HEADER] = "********"  # as a VTEX that masks secrets in its GET would show it
        code, _, err = await cli(capsys, *argv)
        assert 0 == code and "hook unchanged" in err
        assert 1 == len(hook_receiver.pings)

    async def test_silence_warning(
        self,
        env: SimHandle,
        hook_receiver: HookReceiver,
        metrics_server: tuple[str, dict[str, str]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        url, content = metrics_server
        argv = ("hook", "ensure", "--url", hook_receiver.url, "--allow-http", "--ingress-metrics-url", url)
        content["body"] = gauge(env.config.account, time.time() - 60)
        code, _, err = await cli(capsys, *argv, "--silence-warn-after", "3600", "--fail-on-silence")
        assert 0 == code and "warning" not in err
        content["body"] = gauge(env.config.account, time.time() - 7200)
        code, _, err = await cli(capsys, *argv, "--silence-warn-after", "3600")
        assert 0 == code and "warning: no hook for account simaccount for 2.0 h" in err
        code, _, err = await cli(capsys, *argv, "--silence-warn-after", "3600", "--fail-on-silence")
        assert EXIT_SILENT == code
        content["body"] = gauge("another-account", time.time())
        code, _, err = await cli(capsys, *argv, "--fail-on-silence")
        assert EXIT_SILENT == code and "has received no hook for account simaccount" in err

    async def test_unreadable_metrics_only_warn(
        self, env: SimHandle, hook_receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = await cli(
            capsys, "hook", "ensure", "--url", hook_receiver.url, "--allow-http",
            "--ingress-metrics-url", "http://127.0.0.1:9/metrics", "--fail-on-silence",
        )  # fmt: skip
        assert 0 == code
        assert "warning: cannot read the ingress metrics" in err


def _serving(body: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=body)

    return handler


class TestSilenceOverEveryIngressPod:
    """`hook ensure` reads the last-hook gauge of every address behind the metrics host, newest wins."""

    async def test_the_newest_pod_counts_and_an_unreadable_one_is_passed_over(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        port = free_port()
        now = time.time()
        runners = []
        for address, seen in (("127.0.0.2", now - 7200), ("127.0.0.3", now - 60)):
            app = web.Application()
            app.router.add_get("/metrics", _serving(gauge("acme", seen)))
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, address, port).start()
            runners.append(runner)

        async def three_pods(host: str, _port: int | None) -> list[str]:
            assert "ingress-pods" == host
            return ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # the last one serves nothing

        monkeypatch.setattr(hook_silence, "addresses_of", three_pods)
        try:
            newest = await hook_silence.newest_hook_received(f"http://ingress-pods:{port}/metrics", "acme")
        finally:
            for runner in runners:
                await runner.cleanup()
        assert newest is not None and abs(newest - (now - 60)) < 1

    async def test_no_readable_pod_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        async def one_dead_pod(_host: str, _port: int | None) -> list[str]:
            return ["127.0.0.1"]

        monkeypatch.setattr(hook_silence, "addresses_of", one_dead_pod)
        with pytest.raises(OSError):
            await hook_silence.newest_hook_received(f"http://ingress-pods:{free_port()}/metrics", "acme")
