"""Unit tests of the console's access rules (processors/console/auth.py) through its real app and
handlers (aiohttp test server, no broker): the login on every API read, the proxy identity header only
from trusted sources, the Host check, bad Authorization bytes, and the startup rule for tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bridge.settings import Settings
from processors.console.api import CONSOLE
from processors.console.auth import ConsoleConfigError, check_settings, dev_profile, host_name
from tests.processors.test_console_api import (
    PARTITIONS,
    READ_TOKEN,
    TOKEN,
    Calls,
    FakeReader,
    FakeRuntime,
    build,
    settings,
)

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]
READS = ("/api/session", "/api/orders/o1?latest=0", "/api/dead-letters")


async def console(aiohttp_client: ClientFactory, config: Settings, **client: Any) -> Client:
    runtime = FakeRuntime(config, set(range(PARTITIONS)))
    runtime.record("o1", ("duplicate", None))
    return await aiohttp_client(build(config, runtime, {}, FakeReader(), Calls([])), **client)


def refusals(client: Client, status: int) -> float:
    """The console's count of requests refused with `status` (vtex_bridge_console_requests_total)."""
    assert client.app is not None
    samples = [s for metric in client.app[CONSOLE].requests.collect() for s in metric.samples]
    return sum(
        float(s.value)
        for s in samples
        if s.name.endswith("_total") and s.labels == {"endpoint": "access", "status": str(status)}
    )


class TestLogin:
    """Every API read needs a login; the page's files need none (they carry no data)."""

    async def test_reads_need_a_token(self, aiohttp_client: ClientFactory) -> None:
        client = await console(aiohttp_client, settings(console_read_token=READ_TOKEN))
        for path in READS:
            response = await client.get(path)
            assert (401, "login-required") == (response.status, (await response.json())["error"]), path
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = await client.get(path, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
            assert 401 == wrong.status, path
            basic = await client.get(path, headers={"Authorization": f"Basic {TOKEN}"})
            assert 401 == basic.status, path
        for token, admin in ((TOKEN, True), (READ_TOKEN, False)):
            headers = {"Authorization": f"Bearer {token}"}
            for path in READS:
                assert 200 == (await client.get(path, headers=headers)).status, path
            session = await (await client.get("/api/session", headers=headers)).json()
            assert admin == session["admin"]
        for path in ("/console", "/console/static/console.js", "/favicon.ico"):
            assert (await client.get(path)).status in (200, 204), path
        assert 3 * len(READS) == refusals(client, 401)

    async def test_no_login_configured_refuses_everything(self, aiohttp_client: ClientFactory) -> None:
        client = await console(aiohttp_client, settings(console_admin_token=""))
        response = await client.get("/api/orders/o1", headers={"Authorization": "Bearer "})
        body = await response.json()
        assert (401, "login-not-configured") == (response.status, body["error"])
        assert "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN" in body["detail"]

    async def test_not_utf8_authorization_is_401(self, aiohttp_client: ClientFactory) -> None:
        client = await console(aiohttp_client, settings())
        assert client.port is not None
        for method, path in (("POST", "/api/dead-letters/replay"), ("GET", "/api/orders/o1")):
            reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n".encode()
                + b"Authorization: Bearer \xff\xfe\xc3(-not-utf8\r\nConnection: close\r\n\r\n{}"
            )
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            assert b" 401 " in status_line, (path, status_line)


class TestProxyIdentity:
    """The proxy's identity header logs in only from the configured proxy addresses."""

    async def test_trusted_source(self, aiohttp_client: ClientFactory) -> None:
        config = settings(
            console_proxy_user_header="X-Forwarded-User", console_proxy_trusted_sources=["127.0.0.0/8"]
        )
        client = await console(aiohttp_client, config)
        response = await client.get("/api/session", headers={"X-Forwarded-User": "ana@ops"})
        assert (200, "ana@ops", "proxy", False) == (
            response.status,
            *[(await response.json())[k] for k in ("user", "method", "admin")],
        )
        assert 401 == (await client.get("/api/session", headers={"X-Forwarded-User": ""})).status
        replay = await client.post(
            "/api/dead-letters/replay",
            json={"partition": 0, "offset": 1},
            headers={"X-Forwarded-User": "ana"},
        )
        assert 401 == replay.status  # replay needs the admin token whoever the proxy says this is

    async def test_untrusted_source(self, aiohttp_client: ClientFactory) -> None:
        config = settings(
            console_proxy_user_header="X-Forwarded-User", console_proxy_trusted_sources=["10.9.8.7"]
        )
        client = await console(aiohttp_client, config)
        for path in READS:
            assert 401 == (await client.get(path, headers={"X-Forwarded-User": "mallory"})).status, path


class TestHost:
    """Only loopback names, configured names and the advertised URL's host are answered."""

    async def test_host_check(self, aiohttp_client: ClientFactory) -> None:
        config = settings(
            console_allowed_hosts=["Console.Example.com"], worker_advertised_url="http://10.1.2.3:6067"
        )
        client = await console(aiohttp_client, config, headers={"Authorization": f"Bearer {TOKEN}"})
        for host in ("evil.example", "127.0.0.1.evil.example", "console.example.com.evil", "10.1.2.4"):
            for path in ("/api/session", "/console"):
                response = await client.get(path, headers={"Host": host})
                assert (421, "host-not-allowed") == (response.status, (await response.json())["error"])
        assert 8 == refusals(client, 421)
        for host in ("localhost:6067", "127.0.0.1", "[::1]:6067", "console.example.com", "10.1.2.3:6067"):
            assert 200 == (await client.get("/api/session", headers={"Host": host})).status, host

    def test_host_name(self) -> None:
        assert ["a.example", "::1", "127.0.0.1", "b.example"] == [
            host_name(h) for h in ("A.Example:443", "[::1]:80", "127.0.0.1", "b.example.")
        ]


class TestStartupRule:
    """Outside the dev profile no worker starts with a weak, placeholder or missing console token."""

    def test_dev_profile_needs_no_token(self) -> None:
        config = settings(console_admin_token="", profile="dev")
        assert dev_profile(config)
        check_settings(config)

    @pytest.mark.parametrize(
        ("token", "why"),
        [
            ("", "is empty"),
            ("CHANGEME", "too short"),
            ("CHANGEME-CHANGEME-CHANGEME", "placeholder"),
            ("example-console-token-for-prod", "placeholder"),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "random"),
            ("abababababababababababababab", "random"),
        ],
    )
    def test_refused(self, token: str, why: str) -> None:
        config = settings(profile="production", console_admin_token=token)
        assert not dev_profile(config)
        with pytest.raises(ConsoleConfigError, match=why) as caught:
            check_settings(config)
        assert "set VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN to at least 24" in str(caught.value)
        if token:
            assert token not in str(caught.value)  # the message names the setting, never the value

    async def test_dev_profile_warns_of_a_weak_token(
        self, aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        config = settings(profile="dev", console_admin_token="short")
        check_settings(config)  # starts...
        with caplog.at_level("WARNING", logger="processors.console"):
            client = await console(aiohttp_client, config)
        assert any("too short" in str(getattr(r, "problem", "")) for r in caplog.records)  # ...and says so
        assert "short" not in caplog.text.replace("too short", "")  # never the token itself
        assert 200 == (await client.get("/api/session", headers={"Authorization": "Bearer short"})).status

    def test_accepted_and_read_token_rule(self) -> None:
        check_settings(settings(profile="production"))
        weak = settings(profile="production", console_read_token="short")
        with pytest.raises(ConsoleConfigError, match="VTEX_BRIDGE_CONSOLE_READ_TOKEN"):
            check_settings(weak)

    def test_proxy_header_needs_sources_in_every_profile(self) -> None:
        for profile in ("dev", "production"):
            config = settings(profile=profile, console_proxy_user_header="X-Forwarded-User")
            with pytest.raises(ConsoleConfigError, match="CONSOLE_PROXY_TRUSTED_SOURCES"):
                check_settings(config)
        bad = settings(console_proxy_user_header="X-User", console_proxy_trusted_sources=["proxy.local"])
        with pytest.raises(ConsoleConfigError, match="not an IP"):
            check_settings(bad)
