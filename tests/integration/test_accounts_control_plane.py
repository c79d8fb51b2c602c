"""Two simulated accounts end to end over real HTTP and a real broker: `hook ensure --all-accounts` points
both accounts' hooks at the real ingress, `feed set --all-accounts` configures both feeds, and the feed
poller polls both; every record carries the account that sent its event, and one account throttled by
VTEX does not hold the other's feed back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bridge.events import decode_input_event
from bridge.feed_poller.service import run_poller
from bridge.local_kafka import free_port
from bridge.settings import Settings, load_settings
from simulator.config import SimAccount
from simulator.server import SimHandle
from testkit.cli import cli
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.ingress import running_ingress_ports
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

#: Strong enough for the production profile the ingress runs in.
SECRET = "primary-Hk7Wq2Zr9Lm4Xc8Vb3Nt"
OTHER_SECRET = "storeb-Pq5Yt1Gd6Ks3Jw9Fh2Mz"
HEADER = "X-Bridge-Secret"
STOREB = SimAccount.made_up("storeb")


def configure(
    monkeypatch: pytest.MonkeyPatch, sim: SimHandle, tmp_path: Path, bootstrap: str, topic: str
) -> Settings:
    """Point the settings at both accounts of `sim` (simaccount by the variables, storeb by the file)."""
    accounts = tmp_path / "accounts.json"
    accounts.write_bytes(
        orjson.dumps(
            [
                {
                    "account": STOREB.name,
                    "app_key": STOREB.app_key,
                    "app_token": STOREB.app_token,
                    "header": HEADER,
                    "secrets": [OTHER_SECRET],
                }
            ]
        )
    )
    for name, value in {
        "VTEX_ACCOUNT": sim.config.account,
        "VTEX_BRIDGE_VTEX_BASE_URL": sim.base_url_template,
        "VTEX_BRIDGE_ACCOUNTS_FILE": str(accounts),
        "VTEX_BRIDGE_HOOK_SECRET": SECRET,
        "VTEX_BRIDGE_HOOK_SECRET_HEADER": HEADER,
        "VTEX_BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "VTEX_BRIDGE_INPUT_TOPIC": topic,
        "VTEX_BRIDGE_FEED_POLL_IDLE_S": "0.2",
        "VTEX_BRIDGE_FEED_POLL_BACKOFF_MAX_S": "2",
        "VTEX_BRIDGE_FEED_POLL_HTTP_PORT": str(free_port()),
        "VTEX_BRIDGE_LOG_FORMAT": "text",
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def drive(sim: SimHandle, orders: int) -> set[str]:
    """Apply every transition of `orders` seeded orders of `sim`'s account; return their ids."""
    workload = sim.workload(orders, mix={"happy": 1.0})
    for transition in workload.transitions():
        sim.emit(transition)
    return {lc.order_id for lc in workload.lifecycles}


@contextlib.asynccontextmanager
async def polling(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_poller(settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def metrics_text(settings: Settings) -> str:
    url = f"http://127.0.0.1:{settings.feed_poll_http_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text()


class TestFeedPollerPerAccount:
    """The poller polls each account's feed with its own credentials and stamps its account."""

    async def test_both_feeds_reach_kafka_with_their_account(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        sim = await sim_factory(accounts=(STOREB,))
        storeb = sim.account("storeb")
        topic = unique("acct-feed")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        settings = configure(monkeypatch, sim, tmp_path, kafka_bootstrap, topic)
        code, _, err = await cli(capsys, "feed", "set", "--all-accounts")
        assert 0 == code, err
        orders = {sim.config.account: drive(sim, 4), "storeb": drive(storeb, 3)}
        expected = 10 * (4 + 3)  # every change of a happy lifecycle (10 statuses)
        async with polling(settings):
            records = await read_all(kafka_bootstrap, topic, expected=expected, timeout=60)
            metrics = await metrics_text(settings)
        by_account: Counter[str] = Counter()
        for record in records:
            event = decode_input_event(record.value)
            assert event.order_id in orders[event.account], (event.account, event.order_id)
            assert "feed" == event.source
            by_account[event.account] += 1
        assert {sim.config.account: 40, "storeb": 30} == dict(by_account)
        assert 'vtex_bridge_feed_poller_records_produced_total{account="storeb"} 30.0' in metrics
        assert 'vtex_bridge_feed_poller_records_produced_total{account="simaccount"} 40.0' in metrics
        assert "vtex_bridge_feed_poller_accounts 2.0" in metrics

    async def test_a_throttled_account_does_not_hold_the_other_back(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        slow = SimAccount(STOREB.name, STOREB.app_key, STOREB.app_token, rate_limit_per_minute=6)
        sim = await sim_factory(accounts=(slow,), rate_limit_per_minute=0)
        storeb = sim.account("storeb")
        topic = unique("acct-throttle")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        settings = configure(monkeypatch, sim, tmp_path, kafka_bootstrap, topic)
        assert 0 == (await cli(capsys, "feed", "set"))[0]  # the primary's feed; storeb's is set directly
        storeb.store.set_feed(STOREB.app_key, sim.store.feeds[sim.config.app_key].matcher.filter, 240, 345600)
        drive(sim, 6)
        drive(storeb, 6)
        primary_feed = sim.store.feeds[sim.config.app_key]
        storeb_feed = storeb.store.feeds[STOREB.app_key]
        async with polling(settings):
            await wait_until(
                lambda: primary_feed.queue.quantity() == 0, timeout=60, message="the primary's feed drained"
            )
            assert storeb_feed.queue.quantity() > 0, "storeb (6 calls/min) cannot have drained 60 items"
            metrics = await metrics_text(settings)
        assert 'vtex_bridge_feed_poller_errors_total{account="storeb",cause="rate_limited"}' in metrics
        assert 'errors_total{account="simaccount",cause="rate_limited"}' not in metrics


class TestPollerHealthPerAccount:
    """/healthz names the account whose feed cannot be read; an account without appToken is not polled."""

    async def test_one_feed_missing(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        sim = await sim_factory(accounts=(STOREB,))
        topic = unique("acct-health")
        await create_topics(kafka_bootstrap, topic, partitions=1)
        settings = configure(monkeypatch, sim, tmp_path, kafka_bootstrap, topic)
        hooks_only = {"account": "storec", "app_key": "vtexappkey-storec", "secrets": [OTHER_SECRET]}
        accounts = orjson.loads(Path(str(settings.accounts_file)).read_bytes())
        Path(str(settings.accounts_file)).write_bytes(orjson.dumps([*accounts, hooks_only]))
        assert 0 == (await cli(capsys, "feed", "set"))[0]  # the primary's feed only
        url = f"http://127.0.0.1:{settings.feed_poll_http_port}"
        async with polling(settings), aiohttp.ClientSession() as session:

            async def primary_read() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{url}/healthz") as response:
                        accounts = (await response.json())["accounts"]
                        primary = accounts[sim.config.account]["feed_read_recently"]
                        return bool(primary and accounts["storeb"]["last_error"])
                return False

            await wait_until(primary_read, timeout=30, message="the primary's feed read, storeb's refused")
            async with session.get(f"{url}/healthz") as response:
                status, body = response.status, await response.json()
            metrics = await metrics_text(settings)
        assert 503 == status and "unavailable" == body["status"]
        assert {sim.config.account, "storeb"} == set(body["accounts"])  # storec has no appToken
        assert body["accounts"]["storeb"]["feed_read_recently"] is False
        assert "not_found" in str(body["accounts"]["storeb"]["last_error"])
        assert "storeb: not_found" in body["last_error"]
        assert "vtex_bridge_feed_poller_accounts 2.0" in metrics


class TestHooksPerAccountThroughTheIngress:
    """`hook ensure --all-accounts` configures both hooks at the real ingress; both accounts' events land
    in Kafka with their account, and `--fail-on-silence` then finds neither account silent."""

    async def test_ensure_all_accounts(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        sim = await sim_factory(accounts=(STOREB,))
        storeb = sim.account("storeb")
        topic = unique("acct-hook")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        settings = configure(monkeypatch, sim, tmp_path, kafka_bootstrap, topic)
        async with running_ingress_ports(settings) as ports:
            metrics = f"http://127.0.0.1:{ports.metrics}/metrics"
            ensure = ("hook", "ensure", "--all-accounts", "--allow-http", "--ingress-metrics-url", metrics,
                      "--url", f"http://127.0.0.1:{ports.hook}{settings.ingress_path}")  # fmt: skip
            code, _, err = await cli(capsys, *ensure, "--fail-on-silence")
            assert 9 == code, err  # configured, but no hook of either account arrived yet
            assert "account simaccount: hook configured" in err and "account storeb: hook configured" in err
            assert "no hook for account simaccount" in err and "no hook for account storeb" in err
            orders = {sim.config.account: drive(sim, 2), "storeb": drive(storeb, 2)}
            for handle in (sim, storeb):
                await handle.sender.drain(timeout=60)
            accepted = sim.sender.stats()["accepted"] + storeb.sender.stats()["accepted"]
            assert 40 == accepted
            code, _, err = await cli(capsys, *ensure, "--fail-on-silence")
            assert 0 == code, err
            assert 2 == err.count("hook unchanged") and "warning" not in err
        records = await read_all(kafka_bootstrap, topic, expected=accepted)
        seen: dict[str, set[str]] = {}
        for record in records:
            event: Any = decode_input_event(record.value)
            seen.setdefault(event.account, set()).add(event.order_id)
        assert orders == seen
