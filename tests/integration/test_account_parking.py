"""One account's OMS down for long does not stall the others: its events beyond its bound are parked.

Two simulated accounts, one worker over a real broker, with small bounds so that "long" is a few dozen
events: the worker holds at most 12 events in its lanes, 6 per account. With beta's OMS down, beta's
first 6 events wait in the lanes and the rest are parked (kept by input offset only,
`processors.parked`); alpha's events, many times both bounds, keep reaching their topic, and the console
shows beta's parked events as pending. Once beta's OMS is back its parked events are read again from the
input topic and emitted, each order's in input order, none lost, duplicated or dead-lettered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.kafka import create_topics, read_all, wait_until
from testkit.worker import WorkerConfig, WorkerProcess, downstream, per_order_sequence, produce
from tests.integration.test_worker_accounts import account_sim, event, lookup, records, sample, write_accounts
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

#: Events per order: beta's 4 orders x 12 = 48 (8 times its bound); alpha's 4 x 40 = 160.
BETA_PER_ORDER = 12
ALPHA_PER_ORDER = 40
PARKED_BETA = 'vtex_bridge_processor_account_parked_events{account="beta"}'


async def test_a_long_outage_of_one_account_parks_its_events_and_the_other_keeps_flowing(
    kafka_bootstrap: str, sim_factory: SimFactory, tmp_path: Path
) -> None:
    alpha, alpha_orders = await account_sim(sim_factory, "alpha", seed=11)
    beta, beta_orders = await account_sim(sim_factory, "beta", seed=12)
    config = WorkerConfig(
        kafka_bootstrap,
        alpha.base_url,
        partitions=2,
        extra={
            "VTEX_BRIDGE_ACCOUNTS_FILE": str(write_accounts(tmp_path, alpha, beta)),
            "VTEX_BRIDGE_WORKER_MAX_PENDING_EVENTS": "12",
            "VTEX_BRIDGE_WORKER_MAX_PENDING_EVENTS_PER_ACCOUNT": "6",
            "VTEX_BRIDGE_WORKER_MAX_IN_FLIGHT_ORDERS": "4",
            "VTEX_BRIDGE_WORKER_RETRY_BACKOFF_MAX_S": "2",
        },
    )
    await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
    invoiced = config.status_topic("invoiced")
    with WorkerProcess(config, tmp_path) as worker:
        await worker.start()
        beta.controls.oms_5xx_rate = 1.0
        beta_events = [
            event(o, "beta", "invoiced", 10 + i) for i in range(BETA_PER_ORDER) for o in beta_orders
        ]
        await produce(kafka_bootstrap, config.input_topic, beta_events)

        async def beta_parked() -> bool:
            return sample(await worker.metrics(), PARKED_BETA) > 0

        await wait_until(beta_parked, timeout=60, message="beta's events beyond its bound parked")
        alpha_events = [
            event(o, "alpha", "invoiced", 10 + i) for i in range(ALPHA_PER_ORDER) for o in alpha_orders
        ]
        await produce(kafka_bootstrap, config.input_topic, alpha_events)
        flowed = records(await read_all(kafka_bootstrap, invoiced, expected=len(alpha_events), timeout=120))
        assert {"alpha"} == {r["account"] for r in flowed}, "beta's OMS is down: only alpha's events flow"
        assert len(alpha_events) == len(flowed)
        metrics = await worker.metrics()
        parked = sample(metrics, PARKED_BETA)
        assert len(beta_events) - 6 <= parked < len(beta_events)
        assert 0.0 == sample(metrics, 'vtex_bridge_processor_account_parked_events{account="alpha"}')
        # The committed offsets stay behind beta's oldest event, so the consumer lag counts every parked
        # event; the autoscaling signal counts only what more workers could share (here: beta's in flight).
        assert sample(metrics, "vtex_bridge_processor_consumer_lag") >= parked
        assert sample(metrics, "vtex_bridge_processor_work_lag") <= 12
        status, body = await lookup(worker, beta_orders[0], "beta")
        assert 200 == status
        assert "parked" in {p["status"] for p in body["pending"]}
        assert {"account-queue-full"} == {
            p["waiting"]["reason"] for p in body["pending"] if p["status"] == "parked"
        }

        beta.controls.oms_5xx_rate = 0.0
        total = len(alpha_events) + len(beta_events)
        await read_all(kafka_bootstrap, invoiced, expected=total, timeout=180)
        emitted = await downstream(kafka_bootstrap, [invoiced])
        assert total == len(emitted)
        assert len({r["event_id"] for r in emitted}) == total, "nothing duplicated"
        produced: dict[str, list[str]] = {}
        for e in beta_events + alpha_events:
            produced.setdefault(e.order_id, []).append(e.event_id)
        assert produced == per_order_sequence(emitted), "each order's events in input order"

        async def nothing_parked() -> bool:
            return sample(await worker.metrics(), PARKED_BETA) == 0

        await wait_until(nothing_parked, timeout=30, message="nothing parked any more")
        assert [] == records(await read_all(kafka_bootstrap, config.dead_letter_topic, timeout=5))
