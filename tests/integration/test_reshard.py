"""`vtex-bridge topics reshard` under a live workload, over a real broker with worker subprocesses.

Hooks flow through the real ingress while the input goes from 3 to 6 partitions; afterwards every
accepted event is downstream exactly once, each order's records are in arrival order across the switch,
`order_sequence` continues (it lives in the migrated de-dup state), a gen-1 event sent again in gen 2 is
dropped and a late one is flagged. Every downstream read is `read_committed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bridge.events import compute_event_id
from bridge.settings import Settings
from bridge.statuses import KNOWN_STATUSES
from bridge.timestamps import format_vtex_timestamp
from bridge.topics.generation import (
    changelog_topics,
    generation_app_id,
    generation_topic,
    read_record,
)
from bridge.topics.reshard import EXIT_OK, run_reshard
from bridge.topics.resolver import InputTopicResolver
from testkit.checker import Expectation, InputRecord, check, read_inputs, read_outputs
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all, wait_until
from testkit.worker import BASE, WorkerConfig, WorkerProcess
from tests.support.ingress import ACCOUNT, auth_headers, hook_payload, ingress_settings, running_ingress

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]

ORDERS = 24
OLD_PARTITIONS = 3
NEW_PARTITIONS = 6
REFRESH_S = "0.2"
#: Pacing of the hooks sent while the switch runs (not a wait-for: it spreads them over the phases).
PACE_S = 0.05


def payload(order: int, step: int, *, seconds: float | None = None) -> dict[str, Any]:
    """Return the hook of order `order` entering its `step`-th status at BASE + step (or `seconds`)."""
    moment = format_vtex_timestamp(BASE + timedelta(seconds=step if seconds is None else seconds))
    state = KNOWN_STATUSES[step % len(KNOWN_STATUSES)]
    return hook_payload(f"o{order:03d}", state, LastChange=moment, CurrentChange=moment)


def event_id(body: dict[str, Any]) -> str:
    return compute_event_id(str(body["OrderId"]), body.get("State"), str(body["LastChange"]))


class Hooks:
    """Posts hooks to the running ingress like VTEX: a non-200 answer is retried (bounded)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.accepted: dict[str, dict[str, Any]] = {}

    async def send(self, body: dict[str, Any]) -> None:
        for _ in range(100):
            async with self.session.post(self.url, json=body, headers=auth_headers()) as response:
                if response.status == 200:
                    self.accepted[event_id(body)] = body
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"hook {event_id(body)} never accepted")


def reshard_settings(config: WorkerConfig, **overrides: Any) -> Settings:
    return ingress_settings(
        kafka_bootstrap_servers=config.bootstrap,
        input_topic=config.input_topic,
        input_topic_partitions=config.partitions,
        worker_app_id=config.app_id,
        status_topic_prefix=config.status_prefix,
        dead_letter_topic=config.dead_letter_topic,
        generation_refresh_s=float(REFRESH_S),
        **overrides,
    )


async def downstream_count(bootstrap: str, topic: str) -> int:
    return len(await read_all(bootstrap, topic, timeout=30))


class TestReshardUnderLoad:
    """Going from 3 to 6 input partitions mid-stream loses, duplicates and reorders nothing."""

    async def test_live_switch(self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=OLD_PARTITIONS)
        config.extra["VTEX_ACCOUNT"] = ACCOUNT  # the ingress's account: the worker reads its orders
        config.extra["VTEX_BRIDGE_WORKER_ROUTE_GROUPS"] = orjson.dumps({"all": list(KNOWN_STATUSES)}).decode()
        config.extra["VTEX_BRIDGE_GENERATION_REFRESH_S"] = REFRESH_S
        config.extra["VTEX_BRIDGE_WORKER_DEDUP_SWEEP_INTERVAL_S"] = "1"
        settings = reshard_settings(config)
        status_topic = config.status_topic("all")
        new_topic = generation_topic(settings, 2)
        await create_topics(kafka_bootstrap, config.input_topic, partitions=OLD_PARTITIONS)
        switched = InputTopicResolver(settings)  # the test's own view of the switch
        workers = [WorkerProcess(config, tmp_path, "a"), WorkerProcess(config, tmp_path, "b")]
        try:
            for worker in workers:
                await worker.start()
            await switched.start()
            async with (
                running_ingress(settings) as port,
                aiohttp.ClientSession() as session,
            ):
                hooks = Hooks(session, f"http://127.0.0.1:{port}{settings.ingress_path}")
                # Generation 1: the first three steps of every order, with some duplicates.
                for step in range(3):
                    for order in range(ORDERS):
                        await hooks.send(payload(order, step))
                for order in range(0, ORDERS, 4):
                    await hooks.send(payload(order, 0))
                # The switch, with hooks still coming: steps 3 and 4 land before, during and after it.
                during = [payload(o, s) for s in (3, 4) for o in range(ORDERS)]
                reshard = asyncio.create_task(
                    run_reshard(settings, partitions=NEW_PARTITIONS, quiet_s=1.0, timeout_s=150)
                )
                sent_before_switch = 0
                for body in during:
                    await hooks.send(body)
                    if switched.produce_topic == config.input_topic:
                        sent_before_switch += 1
                    await asyncio.sleep(PACE_S)
                assert EXIT_OK == await asyncio.wait_for(reshard, 160)
                assert 0 < sent_before_switch  # the switch happened mid-stream
                # Generation 2: the last step, duplicates of generation-1 events, late events.
                for order in range(ORDERS):
                    await hooks.send(payload(order, 5))
                for order in range(0, ORDERS, 3):
                    await hooks.send(payload(order, 1))  # a duplicate of an event emitted in gen 1
                late = {event_id(payload(o, 2, seconds=1.5)) for o in range(1, ORDERS, 5)}
                for order in range(1, ORDERS, 5):
                    await hooks.send(payload(order, 2, seconds=1.5))  # older than the newest emitted
            expected = len(hooks.accepted)
            try:
                await wait_until(
                    lambda: _at_least(kafka_bootstrap, status_topic, expected),
                    timeout=120,
                    message="every accepted event downstream",
                )
            except AssertionError as error:
                where = await _missing_report(kafka_bootstrap, settings, status_topic, hooks.accepted)
                logs = "\n".join(f"--- worker {w.log_path}\n{w.tail(40)}" for w in workers)
                raise AssertionError(f"{error}\n{where}\n{logs}") from None
            for worker in workers:
                await worker.wait_for(lambda h: bool(h.get("partitions")), 60, "serving")

            def served() -> set[int]:
                return {p for w in workers for p in (w.health() or {}).get("partitions", [])}

            # Between them the workers serve every new partition; a rebalance that is still retaking one
            # (it counts as served once its state is loaded) is waited for, not caught mid-way.
            await wait_until(
                lambda: set(range(NEW_PARTITIONS)) == served(),
                timeout=60,
                message=f"partitions 0..{NEW_PARTITIONS - 1} all served",
            )
            for worker in workers:
                assert 0 == await worker.terminate()
                assert [] == worker.error_lines()
        finally:
            await switched.stop()
            for worker in workers:
                worker.kill()

        record = await read_record(settings, 30)
        assert record is not None
        assert ("active", 2, new_topic, NEW_PARTITIONS) == (
            record.phase,
            record.current.number,
            record.current.topic,
            record.current.partitions,
        )
        inputs = [
            InputRecord(generation, r.offset, r.event_id, r.order_id, r.source)
            for generation, topic in ((1, config.input_topic), (2, new_topic))
            for r in await read_inputs(kafka_bootstrap, topic)
        ]
        assert {1, 2} == {r.partition for r in inputs}  # both generations carried events
        outputs = await read_outputs(kafka_bootstrap, status_topic)
        result = check(
            "reshard",
            Expectation(must=hooks.accepted),
            inputs,
            outputs,
            status_prefix=config.status_prefix,
        )
        assert result.ok, result.to_json()
        assert expected == len(outputs)
        assert late == {r.event_id for r in outputs if r.value.get("late")}
        sequences: dict[str, list[int]] = defaultdict(list)
        for record_out in outputs:
            sequences[record_out.order_id].append(int(record_out.value["order_sequence"]))
        for order_id, numbers in sequences.items():
            assert list(range(1, len(numbers) + 1)) == sorted(numbers), order_id


class TestMigratedState:
    """The migrated changelog holds every order's state on the partition its events now go to."""

    async def test_changelog_partitioned_like_the_input(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=OLD_PARTITIONS)
        config.extra["VTEX_ACCOUNT"] = ACCOUNT  # the ingress's account: the worker reads its orders
        config.extra["VTEX_BRIDGE_GENERATION_REFRESH_S"] = REFRESH_S
        settings = reshard_settings(config)
        await create_topics(kafka_bootstrap, config.input_topic, partitions=OLD_PARTITIONS)
        worker = WorkerProcess(config, tmp_path, "w")
        try:
            await worker.start()
            async with running_ingress(settings) as port, aiohttp.ClientSession() as session:
                hooks = Hooks(session, f"http://127.0.0.1:{port}{settings.ingress_path}")
                for order, step in itertools.product(range(ORDERS), range(2)):
                    await hooks.send(payload(order, step))
            assert EXIT_OK == await run_reshard(
                settings, partitions=NEW_PARTITIONS, quiet_s=0.5, timeout_s=120
            )
            await worker.wait_for(lambda h: len(h.get("partitions", [])) == NEW_PARTITIONS, 90, "gen 2")
            assert 0 == await worker.terminate()
        finally:
            worker.kill()
        new_input = await read_all(kafka_bootstrap, generation_topic(settings, 2), timeout=30)
        assert [] == new_input  # nothing was sent after the switch
        dedup = changelog_topics(generation_app_id(settings, 2))[0]
        state = await read_all(kafka_bootstrap, dedup, timeout=30)
        assert {f"o{o:03d}" for o in range(ORDERS)} == {m.key.decode() for m in state}
        # Where a producer of the new input topic puts each order: the real client's partitioner.
        placed = await _placement(kafka_bootstrap, [m.key for m in state])
        assert placed == {m.key: m.partition for m in state}


async def _missing_report(
    bootstrap: str, settings: Settings, status_topic: str, accepted: dict[str, dict[str, Any]]
) -> str:
    """Say which accepted events are not downstream and where each sits in the two input topics."""
    emitted = {r.event_id for r in await read_outputs(bootstrap, status_topic)}
    missing = sorted(set(accepted) - emitted)
    places: dict[str, list[str]] = defaultdict(list)
    for generation in (1, 2):
        for r in await read_inputs(bootstrap, generation_topic(settings, generation)):
            places[r.event_id].append(f"g{generation} p{r.partition}@{r.offset}")
    lines = [f"{len(missing)} accepted event(s) not downstream:"]
    for e in missing:
        lines.append(f"  {e} {accepted[e].get('OrderId')} {accepted[e].get('State')} {places.get(e)}")
    return "\n".join(lines)


async def _placement(bootstrap: str, keys: list[bytes]) -> dict[bytes, int]:
    """Return the partition a real producer picks for each key on a fresh 6-partition topic."""
    from aiokafka import AIOKafkaProducer

    from testkit.kafka import unique

    topic = unique("placement")
    await create_topics(bootstrap, topic, partitions=NEW_PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await asyncio.wait_for(producer.start(), 30)
    try:
        placed = {}
        for key in keys:
            metadata = await asyncio.wait_for(producer.send_and_wait(topic, b"x", key=key), 30)
            placed[key] = metadata.partition
        return placed
    finally:
        await asyncio.wait_for(producer.stop(), 30)


async def _at_least(bootstrap: str, topic: str, n: int) -> bool:
    return await downstream_count(bootstrap, topic) >= n


class TestResume:
    """An interrupted reshard continues from its recorded phase; zombies are fenced; stragglers forwarded.

    No worker runs here: the previous generation's processing is played by committing its group's
    offsets and writing its changelog directly.
    """

    async def test_timeout_conflict_resume_and_stragglers(self, kafka_bootstrap: str) -> None:
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaError

        from bridge.topics.generation import partition_for, transactional_id
        from bridge.topics.reshard import EXIT_CONFLICT, EXIT_TIMEOUT
        from testkit.kafka import unique

        settings = ingress_settings(
            kafka_bootstrap_servers=kafka_bootstrap,
            input_topic=unique("in"),
            input_topic_partitions=OLD_PARTITIONS,
            worker_app_id=unique("proc"),
            generation_refresh_s=float(REFRESH_S),
        )
        app_id = settings.worker_app_id
        old_changelog, new_changelog = changelog_topics(app_id)[0], changelog_topics(f"{app_id}-g2")[0]
        await create_topics(kafka_bootstrap, settings.input_topic, partitions=OLD_PARTITIONS)
        await create_topics(kafka_bootstrap, old_changelog, partitions=OLD_PARTITIONS)
        events = [payload(o, 0) for o in range(6)]
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        zombie = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, transactional_id=transactional_id(app_id, 0)
        )
        await zombie.start()
        try:
            for body in events:
                await producer.send_and_wait(
                    settings.input_topic, orjson.dumps(body), key=body["OrderId"].encode()
                )
            # The previous generation's state: one committed key per order; then a transaction left open.
            for body in events:
                key = body["OrderId"].encode()
                await producer.send_and_wait(
                    old_changelog,
                    b'{"seen":{},"emitted":1}',
                    key=key,
                    partition=partition_for(key, OLD_PARTITIONS),
                )
            await zombie.begin_transaction()
            await zombie.send_and_wait(old_changelog, b'{"emitted":99}', key=b"zombie", partition=0)

            # Past "preparing" (topics created) even on a busy machine, long before 60 s of quiet.
            code = await run_reshard(settings, partitions=NEW_PARTITIONS, quiet_s=60, timeout_s=15)
            assert EXIT_TIMEOUT == code
            assert "switching" == (await _record(settings)).phase
            assert EXIT_CONFLICT == await run_reshard(settings, partitions=4, quiet_s=0.5, timeout_s=30)

            await _commit_all(kafka_bootstrap, app_id, settings.input_topic)  # the old workers' progress
            code = await run_reshard(settings, partitions=NEW_PARTITIONS, quiet_s=0.5, timeout_s=60)
            assert EXIT_OK == code
            assert "active" == (await _record(settings)).phase
            with pytest.raises(KafkaError):  # the zombie was fenced; its transaction was aborted
                await asyncio.wait_for(zombie.commit_transaction(), 30)
            state = await read_all(kafka_bootstrap, new_changelog, timeout=30)
            assert {
                (b["OrderId"].encode(), partition_for(b["OrderId"].encode(), NEW_PARTITIONS)) for b in events
            } == {(m.key, m.partition) for m in state}

            # A producer that saw the switch late: rerunning the command forwards its record.
            late_body = payload(99, 1)
            await producer.send_and_wait(
                settings.input_topic, orjson.dumps(late_body), key=late_body["OrderId"].encode()
            )
            assert EXIT_OK == await run_reshard(
                settings, partitions=NEW_PARTITIONS, quiet_s=0.5, timeout_s=30
            )
            forwarded = await read_all(kafka_bootstrap, generation_topic(settings, 2), timeout=30)
            assert [orjson.dumps(late_body)] == [m.value for m in forwarded]
            assert EXIT_OK == await run_reshard(
                settings, partitions=NEW_PARTITIONS, quiet_s=0.5, timeout_s=30
            )
            assert 1 == len(await read_all(kafka_bootstrap, generation_topic(settings, 2), timeout=30))
        finally:
            await producer.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(zombie.stop(), 10)


async def _record(settings: Settings) -> Any:
    record = await read_record(settings, 30)
    assert record is not None
    return record


async def _commit_all(bootstrap: str, group: str, topic: str) -> None:
    """Commit `group`'s offsets at the end of every partition of `topic` (as a finished worker would)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), 30)
    try:
        tps = [TopicPartition(topic, p) for p in range(OLD_PARTITIONS)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit({tp: OffsetAndMetadata(ends[tp], "") for tp in tps})
    finally:
        await asyncio.wait_for(consumer.stop(), 30)
