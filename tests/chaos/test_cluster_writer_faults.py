"""Chaos on a replicated cluster, seen from the worker's transactional writers (`make chaos`).

The broker leading the most of the worker's state-changelog partitions is frozen (SIGSTOP, 30 s) while
orders flow. Every partition's writer commits a transaction per group of events, each writing that
partition's changelog, so the changelog's end offsets show each writer's progress. A probe samples them
(through the healthy brokers) and the leaders of every partition the worker writes or reads (input,
changelog, timelines, the status topic, Kafka's transaction log); the JSON line adds
`worker_stall_s_after_failover`: how long after Kafka had moved all those leaderships off the frozen
broker the slowest writer took to commit again (`stalls_s`: each writer's), at most
`WORKER_FAILOVER_BOUND_S`.

The bound is wider than the ingress's (5 s): a writer may also have to wait for its group to settle
(the frozen broker may have been the group's coordinator: a rejoin, then positions read again) and
for a transaction that was being committed to complete, which the coordinator does once its marker
to the frozen broker times out (the brokers' `request.timeout.ms`, 10 s on the local cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.local_kafka import LocalCluster
from bridge.topic_names import timeline_topic
from processors.state import changelog_topic
from testkit.checker import CheckResult
from testkit.harness import PARTITIONS, ROUTE_ALL, Bridge
from tests.chaos.test_cluster_faults import cluster_bridge, node, own_cluster

Report = Callable[[CheckResult], None]
SAMPLE_S = 0.2
TRANSACTION_LOG = "__transaction_state"
WORKER_FAILOVER_BOUND_S = 10.0

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_full]
__all__ = ["cluster_bridge", "own_cluster"]


class WriterProbe:
    """Sample the changelog's end offsets and the leaders of the worker's partitions; derive the stall."""

    def __init__(self, cluster: LocalCluster, bridge: Bridge) -> None:
        self.cluster = cluster
        self.changelog = changelog_topic(bridge.app_id)
        self.topics = [
            bridge.input_topic,
            self.changelog,
            timeline_topic(bridge.app_id),
            f"{bridge.status_prefix}{ROUTE_ALL}",
            TRANSACTION_LOG,
        ]
        self.fault_at: float | None = None
        self.faulted: set[int] = set()
        self.elected_at: float | None = None
        #: Per changelog partition: the times its end offset was seen to grow.
        self.grew: dict[int, list[float]] = {}
        self._ends: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WriterProbe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def fault(self, node_ids: set[int]) -> None:
        self.fault_at, self.faulted, self.elected_at = time.monotonic(), set(node_ids), None

    def _healthy(self) -> str:
        return ",".join(n.bootstrap for i, n in enumerate(self.cluster.nodes, 1) if i not in self.faulted)

    async def _run(self) -> None:
        consumer: AIOKafkaConsumer | None = None
        try:
            while True:
                if consumer is None:
                    consumer = await self._consumer()
                elif not await self._sample(consumer):
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(consumer.stop(), 3)
                    consumer = None  # new leaders: a fresh client on the healthy brokers
                if self.fault_at is not None and self.elected_at is None and await self._leaders_moved():
                    self.elected_at = time.monotonic()
                await asyncio.sleep(SAMPLE_S)
        finally:
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), 3)

    async def _consumer(self) -> AIOKafkaConsumer | None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._healthy(), request_timeout_ms=1500)
        try:
            await asyncio.wait_for(consumer.start(), 3)
        except Exception:  # noqa: BLE001 - the cluster may not answer while it elects
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 3)
            return None
        return consumer

    async def _sample(self, consumer: AIOKafkaConsumer) -> bool:
        try:
            tps = [TopicPartition(self.changelog, p) for p in range(PARTITIONS)]
            ends = await asyncio.wait_for(consumer.end_offsets(tps), 2)
        except Exception:  # noqa: BLE001 - a partition whose leader is frozen does not answer
            return False
        now = time.monotonic()
        for tp, end in ends.items():
            if end > self._ends.get(tp.partition, end):
                self.grew.setdefault(tp.partition, []).append(now)
            self._ends[tp.partition] = end
        return True

    async def _leaders_moved(self) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._healthy(), request_timeout_ms=2000)
        try:
            await asyncio.wait_for(admin.start(), 3)
            described = await asyncio.wait_for(admin.describe_topics(self.topics), 3)
            leaders = [
                p["leader"] for topic in described if not topic["error_code"] for p in topic["partitions"]
            ]
            return bool(leaders) and all(leader >= 0 and leader not in self.faulted for leader in leaders)
        except Exception:  # noqa: BLE001 - the cluster may not answer while it elects
            return False
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 3)

    def figures(self, until: float) -> dict[str, Any]:
        """The stall after the failover: per writer, its first commit after the leaders moved (`until`
        for one that never committed again); the slowest writer's is the figure."""
        if self.fault_at is None or self.elected_at is None:
            return {"worker_stall_s_after_failover": None, "leaders_moved_s": None}
        elected_at = self.elected_at
        stalls = {
            partition: min([t for t in self.grew.get(partition, []) if t > elected_at], default=until)
            - elected_at
            for partition in range(PARTITIONS)
        }
        return {
            "worker_stall_s_after_failover": round(max(stalls.values()), 1),
            "stalls_s": {p: round(s, 1) for p, s in sorted(stalls.items())},
            "leaders_moved_s": round(elected_at - self.fault_at, 1),
        }


async def changelog_leaders(cluster: LocalCluster, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=5000)
    await asyncio.wait_for(admin.start(), 10)
    try:
        (described,) = await asyncio.wait_for(admin.describe_topics([topic]), 10)
        return [p["leader"] for p in described["partitions"]]
    finally:
        await asyncio.wait_for(admin.close(), 10)


class TestWriterFailover:
    """A frozen broker's leaderships move; every partition's writer must follow within seconds."""

    async def test_sigstop_changelog_leader_while_writing(
        self, own_cluster: LocalCluster, cluster_bridge: tuple[Bridge, int], chaos_report: Report
    ) -> None:
        bridge, _ = cluster_bridge
        # ~1 minute of steady load: it goes on well past the moment the leaders move.
        work = await bridge.start_workload(160, rate_per_s=20)
        await bridge.wait_accepted(work.transitions // 8)
        leaders = await changelog_leaders(own_cluster, changelog_topic(bridge.app_id))
        victim = Counter(leaders).most_common(1)[0][0]
        process = node(own_cluster, victim).process
        assert process is not None
        async with WriterProbe(own_cluster, bridge) as probe:
            await bridge.hold(3.0)  # the probe's baseline: every writer commits under this load
            probe.fault({victim})
            os.killpg(process.pid, signal.SIGSTOP)
            try:
                await bridge.hold(30.0)
            finally:
                os.killpg(process.pid, signal.SIGCONT)
            figures = probe.figures(until=time.monotonic())
        result = await bridge.check("cluster-sigstop-writer", transitions=work.transitions, **figures)
        chaos_report(result)
        assert result.ok, result.to_json()
        stall = figures["worker_stall_s_after_failover"]
        assert stall is not None and stall <= WORKER_FAILOVER_BOUND_S, result.to_json()
