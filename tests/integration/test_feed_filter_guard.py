"""`feed set` never narrows a configured feed filter silently, over the real simulator, real HTTP and a
real broker: with two accounts, a narrower filter is refused (exit 10, naming the statuses that would
stop reaching the feed) and the feeds keep delivering those statuses to Kafka; `--replace-filter`
applies it to the named account only, after which that account's feed delivers only the new statuses;
a wider or equal filter applies without the flag.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.cli.commands.filter_guard import EXIT_FILTER_NARROWS
from bridge.events import decode_input_event
from bridge.feed_poller.service import run_poller
from bridge.settings import Settings, load_settings
from simulator.config import SimAccount
from simulator.server import SimHandle
from testkit.cli import cli
from testkit.kafka import create_topics, read_all, unique
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

STOREB = SimAccount.made_up("storeb")
#: Orders per account in the seeded workload: 3 before the replacement, 2 after.
ORDERS = 5


def configure(
    monkeypatch: pytest.MonkeyPatch, sim: SimHandle, tmp_path: Path, bootstrap: str, topic: str
) -> Settings:
    """Point the settings at both accounts of `sim` (simaccount by the variables, storeb by the file)."""
    accounts = tmp_path / "accounts.json"
    entry = {"account": STOREB.name, "app_key": STOREB.app_key, "app_token": STOREB.app_token}
    accounts.write_bytes(orjson.dumps([entry]))
    for name, value in {
        "VTEX_ACCOUNT": sim.config.account,
        "VTEX_BRIDGE_VTEX_BASE_URL": sim.base_url_template,
        "VTEX_BRIDGE_ACCOUNTS_FILE": str(accounts),
        "VTEX_BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "VTEX_BRIDGE_INPUT_TOPIC": topic,
        "VTEX_BRIDGE_FEED_POLL_IDLE_S": "0.2",
        "VTEX_BRIDGE_LOG_FORMAT": "text",
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def drive(sim: SimHandle, first: int, last: int) -> set[str]:
    """Apply every transition of the happy orders `first..last-1` of `sim`'s seeded workload (the same
    seed gives the same orders, so each phase takes its own slice); return their ids."""
    workload = sim.workload(ORDERS, mix={"happy": 1.0})
    ids = {lc.order_id for lc in workload.lifecycles[first:last]}
    for transition in workload.transitions():
        if transition.order_id in ids:
            sim.emit(transition)
    return ids


@contextlib.asynccontextmanager
async def polling(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_poller(settings, stop, serve_http=False))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def states(records: list[Any], orders: set[str]) -> Counter[tuple[str, str | None]]:
    """Count (account, state) of the records of `orders`."""
    counted: Counter[tuple[str, str | None]] = Counter()
    for record in records:
        event = decode_input_event(record.value)
        if event.order_id in orders:
            assert "feed" == event.source
            counted[event.account, event.state] += 1
    return counted


def feed_statuses(sim: SimHandle, app_key: str) -> list[str]:
    feed = sim.store.get_feed(app_key)
    assert feed is not None
    return list(feed.to_json(0.0)["filter"]["status"])


class TestFeedSetNeverNarrowsSilently:
    """A refused narrowing leaves both feeds delivering; `--replace-filter` narrows one account only."""

    async def test_refuse_then_replace_per_account(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        sim = await sim_factory(accounts=(STOREB,))
        storeb = sim.account("storeb")
        own = sim.config.account
        topic = unique("feed-guard")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        settings = configure(monkeypatch, sim, tmp_path, kafka_bootstrap, topic)
        both = ("feed", "set", "--all-accounts")

        assert 0 == (await cli(capsys, *both, "--status", "handling,invoiced"))[0]
        code, _, err = await cli(capsys, *both, "--status", "handling,invoiced,canceled")  # wider
        assert 0 == code and "refusing" not in err and "replacing" not in err, err
        code, _, err = await cli(capsys, *both, "--status", "canceled,invoiced,handling")  # equal
        assert 0 == code and "refusing" not in err and "replacing" not in err, err

        code, _, err = await cli(capsys, *both, "--status", "invoiced")
        assert EXIT_FILTER_NARROWS == code, err
        for name in (own, "storeb"):
            assert f"account {name}: refusing to replace a feed filter that notifies more:" in err
            assert f"vtex-bridge feed set: account {name}: the desired filter would stop" in err
        assert 2 == err.count("no longer notified: status(es) canceled, handling")  # the equal run's order
        assert "pass --replace-filter" in err and "feed configured" not in err
        assert 3 == len(feed_statuses(sim, sim.config.app_key)) == len(feed_statuses(storeb, STOREB.app_key))

        first = drive(sim, 0, 3) | drive(storeb, 0, 3)
        async with polling(settings):
            records = await read_all(kafka_bootstrap, topic, expected=12, timeout=60)
        assert {
            (own, "handling"): 3,
            (own, "invoiced"): 3,
            ("storeb", "handling"): 3,
            ("storeb", "invoiced"): 3,
        } == dict(states(records, first))

        code, _, err = await cli(
            capsys, "feed", "set", "--account", "storeb", "--status", "invoiced", "--replace-filter"
        )
        assert 0 == code, err
        assert "account storeb: replacing a feed filter that notifies more:" in err
        assert "account storeb: feed configured: FromWorkflow" in err
        assert ["invoiced"] == feed_statuses(storeb, STOREB.app_key)
        assert 3 == len(feed_statuses(sim, sim.config.app_key))

        second = drive(sim, 3, 5) | drive(storeb, 3, 5)
        async with polling(settings):
            records = await read_all(kafka_bootstrap, topic, expected=12 + 6, timeout=60)
        assert {(own, "handling"): 2, (own, "invoiced"): 2, ("storeb", "invoiced"): 2} == dict(
            states(records, second)
        )
