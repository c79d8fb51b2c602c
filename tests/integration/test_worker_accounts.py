"""Several VTEX accounts over a real broker and real HTTP: two simulated accounts, one worker.

Each account is its own simulator (own port, credentials and orders, so the order documents differ:
`hostname` names the account) and the worker's accounts file points each account at its simulator.
Proven: each event is enriched from its own account; an outage (5xx) and then throttling (429) of one
account's OMS do not stall the other account's events, and the throttled account's events follow once
its OMS is back, none dead-lettered; an event of an account the worker does not know is dead-lettered
(`unknown-account`) and never read from any OMS; with `status_topic_account_prefix` each account's
records go to its own status topics; a reshard's state copy places another account's state
(`account/OrderId`) on its OrderId's partition.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from bridge.accounts import order_key
from bridge.console_client import fetch, order_path
from bridge.events import InputEvent
from bridge.settings import load_settings
from bridge.topics.generation import partition_for
from bridge.topics.migration import copy_changelog
from simulator.server import SimHandle
from testkit.kafka import create_topics, read_all, unique, wait_until
from testkit.worker import CONSOLE_TOKEN, WorkerConfig, WorkerProcess, hook, produce
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

ORDERS = 4


def event(order_id: str, account: str, state: str, seconds: float) -> InputEvent:
    return dataclasses.replace(hook(order_id, state, seconds), account=account)


async def account_sim(sim_factory: SimFactory, name: str, seed: int) -> tuple[SimHandle, list[str]]:
    """Start a simulator serving account `name` and create its orders (their first transition)."""
    sim = await sim_factory(
        account=name,
        app_key=f"vtexappkey-{name}-TEST",
        app_token=f"{name}-app-token",
        seed=seed,
        rate_limit_per_minute=0,
    )
    firsts = [lifecycle.transitions[0] for lifecycle in sim.workload(orders=ORDERS).lifecycles]
    for transition in firsts:
        sim.emit(transition)
    return sim, [t.order_id for t in firsts]


def write_accounts(directory: Path, *sims: SimHandle) -> Path:
    """Write the worker's accounts file: each simulator's account, credentials and base URL."""
    path = directory / "accounts.json"
    entries = [
        {
            "account": sim.config.account,
            "app_key": sim.config.app_key,
            "app_token": sim.config.app_token,
            "base_url": sim.base_url,
        }
        for sim in sims
    ]
    path.write_bytes(orjson.dumps(entries))
    return path


async def lookup(worker: WorkerProcess, order_id: str, account: str | None) -> tuple[int, dict[str, Any]]:
    """Ask the worker's console for an order (`vtex-bridge order`'s request); return (status, body)."""
    config = load_settings(kafka_embedded=False, console_admin_token=CONSOLE_TOKEN)
    base = f"http://127.0.0.1:{worker.console_port}"
    status, body = await asyncio.to_thread(fetch, config, base, order_path(order_id, account))
    assert isinstance(body, dict)
    return status, body


def sample(metrics: str, series: str) -> float:
    """The value of one series in a Prometheus text exposition."""
    line = next(line for line in metrics.splitlines() if line.startswith(series + " "))
    return float(line.split()[-1])


def records(messages: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(m.value) for m in messages]


async def test_each_account_from_its_own_oms_and_one_accounts_trouble_does_not_stall_the_other(
    kafka_bootstrap: str, sim_factory: SimFactory, tmp_path: Path
) -> None:
    alpha, alpha_orders = await account_sim(sim_factory, "alpha", seed=1)
    beta, beta_orders = await account_sim(sim_factory, "beta", seed=2)
    assert not set(alpha_orders) & set(beta_orders)
    accounts_file = write_accounts(tmp_path, alpha, beta)
    config = WorkerConfig(
        kafka_bootstrap,
        alpha.base_url,
        partitions=2,
        # Two accounts: each may hold 2 of the 4 enrichment slots, so beta's stuck orders leave alpha 2.
        extra={
            "VTEX_BRIDGE_ACCOUNTS_FILE": str(accounts_file),
            "VTEX_BRIDGE_WORKER_MAX_IN_FLIGHT_ORDERS": "4",
        },
    )
    await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
    handling, invoiced, canceled = (config.status_topic(s) for s in ("handling", "invoiced", "canceled"))
    with WorkerProcess(config, tmp_path) as worker:
        await worker.start()
        assert ["alpha", "beta"] == (worker.health() or {}).get("accounts")

        # (a) Each event is enriched from its own account; (c) an unknown account is dead-lettered.
        first = [event(o, "alpha", "handling", 1) for o in alpha_orders]
        first += [event(o, "beta", "handling", 1) for o in beta_orders]
        stranger = event("1234567890123-01", "zeta", "handling", 1)
        await produce(kafka_bootstrap, config.input_topic, [*first, stranger])
        enriched = records(await read_all(kafka_bootstrap, handling, expected=2 * ORDERS, timeout=90))
        assert 2 * ORDERS == len(enriched)
        for record in enriched:
            assert record["account"] == record["order"]["hostname"]
            assert record["order_id"] in {"alpha": alpha_orders, "beta": beta_orders}[record["account"]]
        dead = records(await read_all(kafka_bootstrap, config.dead_letter_topic, expected=1, timeout=60))
        assert [("unknown-account", "zeta", stranger.event_id)] == [
            (d["reason"], d["account"], d["event_id"]) for d in dead
        ]
        assert 0 == alpha.simulator.counters["oms_404"] + beta.simulator.counters["oms_404"]
        # The console looks an order up by (account, OrderId); without an account: the default's.
        found = await lookup(worker, beta_orders[0], "beta")
        assert (200, "beta", "emitted") == (found[0], found[1]["account"], found[1]["timeline"][0]["outcome"])
        assert 404 == (await lookup(worker, beta_orders[0], None))[0]
        assert 200 == (await lookup(worker, alpha_orders[0], None))[0]

        # (b) beta's OMS is down: alpha's events keep flowing, beta's wait (not dead-lettered) and follow.
        beta.controls.oms_5xx_rate = 1.0
        outage_5xx = beta.simulator.counters["oms_5xx"]
        second = [event(o, "beta", "invoiced", 2) for o in beta_orders]
        second += [event(o, "alpha", "invoiced", 2) for o in alpha_orders]
        await produce(kafka_bootstrap, config.input_topic, second)
        flowed = records(await read_all(kafka_bootstrap, invoiced, expected=ORDERS, timeout=90))
        assert {"alpha"} == {r["account"] for r in flowed}
        await wait_until(lambda: beta.simulator.counters["oms_5xx"] >= outage_5xx + 2, timeout=30)
        metrics = await worker.metrics()
        assert f'vtex_bridge_processor_account_in_flight_events{{account="beta"}} {float(ORDERS)}' in metrics
        assert 'vtex_bridge_processor_account_in_flight_events{account="alpha"} 0.0' in metrics
        assert 0.0 < sample(metrics, 'vtex_bridge_processor_account_oldest_in_flight_seconds{account="beta"}')
        beta.controls.oms_5xx_rate = 0.0
        after = records(await read_all(kafka_bootstrap, invoiced, expected=2 * ORDERS, timeout=90))
        assert sorted(beta_orders) == sorted(r["order_id"] for r in after if r["account"] == "beta")

        # ... and throttled (429 on every read): the same.
        beta.controls.oms_429_rate = 1.0
        throttled = beta.simulator.counters["oms_429"]
        third = [event(o, "beta", "canceled", 3) for o in beta_orders]
        third += [event(o, "alpha", "canceled", 3) for o in alpha_orders]
        await produce(kafka_bootstrap, config.input_topic, third)
        flowed = records(await read_all(kafka_bootstrap, canceled, expected=ORDERS, timeout=90))
        assert {"alpha"} == {r["account"] for r in flowed}
        await wait_until(lambda: beta.simulator.counters["oms_429"] > throttled, timeout=30)
        beta.controls.oms_429_rate = 0.0
        after = records(await read_all(kafka_bootstrap, canceled, expected=2 * ORDERS, timeout=120))
        assert sorted(beta_orders) == sorted(r["order_id"] for r in after if r["account"] == "beta")

        metrics = await worker.metrics()
        assert 'vtex_bridge_oms_requests_total{account="beta",status="429"}' in metrics
        assert 'vtex_bridge_processor_account_events_total{account="alpha",outcome="emitted"}' in metrics
        dead = records(await read_all(kafka_bootstrap, config.dead_letter_topic, timeout=10))
        assert ["unknown-account"] == [d["reason"] for d in dead]  # nothing of beta's was dead-lettered


async def test_per_account_status_topics(
    kafka_bootstrap: str, sim_factory: SimFactory, tmp_path: Path
) -> None:
    """With `status_topic_account_prefix` the worker creates and writes each account's own topics."""
    alpha, alpha_orders = await account_sim(sim_factory, "alpha", seed=3)
    beta, beta_orders = await account_sim(sim_factory, "beta", seed=4)
    accounts_file = write_accounts(tmp_path, alpha, beta)
    prefix = f"{unique('st')}.{{account}}.status."
    config = WorkerConfig(
        kafka_bootstrap,
        alpha.base_url,
        partitions=2,
        extra={
            "VTEX_BRIDGE_ACCOUNTS_FILE": str(accounts_file),
            "VTEX_BRIDGE_STATUS_TOPIC_ACCOUNT_PREFIX": prefix,
        },
    )
    await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
    with WorkerProcess(config, tmp_path) as worker:
        await worker.start()
        events = [event(o, "alpha", "handling", 1) for o in alpha_orders]
        events += [event(o, "beta", "handling", 1) for o in beta_orders]
        await produce(kafka_bootstrap, config.input_topic, events)
        for name, orders in (("alpha", alpha_orders), ("beta", beta_orders)):
            topic = prefix.replace("{account}", name) + "handling"
            got = await read_all(kafka_bootstrap, topic, expected=ORDERS, timeout=90)
            assert sorted(orders) == sorted(orjson.loads(m.value)["order_id"] for m in got)
            assert all((("account", name.encode()) in m.headers) for m in got)


async def test_a_reshard_copies_each_accounts_state_next_to_its_orders_events(kafka_bootstrap: str) -> None:
    """State of another account's order (`beta/OrderId`) moves with the OrderId's partition."""
    source, target = unique("changelog-g1"), unique("changelog-g2")
    await create_topics(kafka_bootstrap, source, partitions=3)
    await create_topics(kafka_bootstrap, target, partitions=7)
    keys = [order_key(account, f"{n}-01", "alpha") for n in range(20) for account in ("alpha", "beta")]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for key in keys:
            order_id = key.rpartition("/")[2].encode()
            await producer.send_and_wait(
                source, b"{}", key=key.encode(), partition=partition_for(order_id, 3)
            )
    finally:
        await producer.stop()
    copied = await copy_changelog(kafka_bootstrap, source, 3, target, 7)
    assert len(keys) == copied.written
    placed = await read_all(kafka_bootstrap, target, expected=len(keys), timeout=60)
    for message in placed:
        order_id = message.key.decode().rpartition("/")[2]
        assert partition_for(order_id.encode(), 7) == message.partition, message.key
