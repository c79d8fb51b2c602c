"""Chaos on a replicated cluster: three KRaft brokers (RF 3, min ISR 2) while orders flow (`make chaos`).

Each scenario runs the usual private bridge against its own 3-broker `LocalCluster`, injects a broker
fault, and reports the checker's JSON line (lost, duplicated, out_of_order, unexpected = 0) plus how
the ingress fared: `ingress_503_s_after_failover` is how long the ingress kept refusing hooks (its
`kafka_*` outcomes) after Kafka had elected leaders off the faulted brokers for every input partition;
`first_503_s` how soon after the fault it started refusing. A probe samples both every 0.2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bridge.local_kafka import LocalCluster, LocalKafka, ensure_distribution, free_port
from testkit import probes
from testkit.checker import CheckResult
from testkit.harness import Bridge, BridgeOptions
from testkit.kafka import KAFKA_VERSION
from testkit.sim_client import Workload

Report = Callable[[CheckResult], None]
REFUSALS = ("kafka_unavailable", "kafka_timeout", "kafka_failed")
SAMPLE_S = 0.2
#: The issue's bound for the ingress after a failover, and for the first refusal without a quorum.
FAILOVER_BOUND_S = 5.0
NO_QUORUM_503_S = 4.0

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_full]


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(libs=ensure_distribution(KAFKA_VERSION), work_dir=tmp_path / "cluster", brokers=3)
    cluster.start()
    try:
        yield cluster
    finally:
        for node in cluster.nodes:  # a frozen node must be able to stop
            if node.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signal.SIGCONT)
        cluster.stop()


@pytest.fixture
async def cluster_bridge(own_cluster: LocalCluster, tmp_path: Path) -> AsyncIterator[tuple[Bridge, int]]:
    metrics_port = free_port()
    options = BridgeOptions(
        seed=31,
        env={
            "VTEX_BRIDGE_WORKER_TOPIC_REPLICATION": "3",
            "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(metrics_port),
        },
    )
    bridge = await Bridge.create(own_cluster.bootstrap, tmp_path / "bridge", options)
    try:
        yield bridge, metrics_port
    finally:
        await bridge.stop()


class FailoverProbe:
    """Sample the ingress's refusals and the input partitions' leaders; derive the failover figures."""

    def __init__(self, cluster: LocalCluster, bridge: Bridge, metrics_port: int) -> None:
        self.cluster = cluster
        self.bridge = bridge
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.refusal_times: list[float] = []
        self._refused = 0
        self.fault_at: float | None = None
        self.faulted: set[int] = set()
        self.elected_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FailoverProbe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def fault(self, node_ids: set[int]) -> None:
        """Note that `node_ids` fail now; from here on, wait for their leaderships to move."""
        self.fault_at, self.faulted, self.elected_at = time.monotonic(), set(node_ids), None

    async def _run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                now = time.monotonic()
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(self.metrics_url) as response:
                        totals = probes.counter_totals(await response.text(), "vtex_bridge_ingress_requests")
                        refused = sum(totals.get(name, 0) for name in REFUSALS)
                        if refused > self._refused:
                            self.refusal_times.append(now)
                        self._refused = refused
                if self.fault_at is not None and self.elected_at is None and await self._leaders_moved():
                    self.elected_at = time.monotonic()
                await asyncio.sleep(SAMPLE_S)

    async def _leaders_moved(self) -> bool:
        healthy = ",".join(n.bootstrap for i, n in enumerate(self.cluster.nodes, 1) if i not in self.faulted)
        admin = AIOKafkaAdminClient(bootstrap_servers=healthy, request_timeout_ms=2000)
        try:
            await asyncio.wait_for(admin.start(), 3)
            (topic,) = await asyncio.wait_for(admin.describe_topics([self.bridge.input_topic]), 3)
            leaders = [p["leader"] for p in topic["partitions"]]
            return bool(leaders) and all(leader >= 0 and leader not in self.faulted for leader in leaders)
        except Exception:  # noqa: BLE001 - the cluster may not answer while it elects
            return False
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 3)

    def figures(self) -> dict[str, Any]:
        after = [t for t in self.refusal_times if self.fault_at is not None and t >= self.fault_at]
        first = round(after[0] - self.fault_at, 1) if after and self.fault_at is not None else None
        failover = None
        if self.elected_at is not None:
            failover = round(max([0.0, *(t - self.elected_at for t in after)]), 1)
        return {"ingress_503_s_after_failover": failover, "first_503_s": first, "refusal_samples": len(after)}


def leader_of_most(cluster: LocalCluster, topic_leaders: list[int]) -> int:
    counts = {node_id: topic_leaders.count(node_id) for node_id in range(1, len(cluster.nodes) + 1)}
    return max(counts, key=lambda node_id: counts[node_id])


async def input_leaders(cluster: LocalCluster, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=5000)
    await asyncio.wait_for(admin.start(), 10)
    try:
        (described,) = await asyncio.wait_for(admin.describe_topics([topic]), 10)
        return [p["leader"] for p in described["partitions"]]
    finally:
        await asyncio.wait_for(admin.close(), 10)


def node(cluster: LocalCluster, node_id: int) -> LocalKafka:
    return cluster.nodes[node_id - 1]


async def restart(cluster: LocalCluster, node_id: int) -> None:
    await asyncio.to_thread(node(cluster, node_id).start)


async def under_load(bridge: Bridge) -> Workload:
    """Start the scenarios' workload (40 orders at 100 transitions/s) and wait for a third accepted."""
    work = await bridge.start_workload(40, rate_per_s=100)
    await bridge.wait_accepted(work.transitions // 3)
    return work


def assert_followed_the_leaders(result: CheckResult, figures: dict[str, Any]) -> None:
    """Nothing lost, duplicated or reordered, and the ingress refused for no longer than
    FAILOVER_BOUND_S after Kafka had moved every input leadership off the faulted broker."""
    assert result.ok, result.to_json()
    assert figures["ingress_503_s_after_failover"] is not None, figures
    assert figures["ingress_503_s_after_failover"] <= FAILOVER_BOUND_S, result.to_json()


class TestClusterFailover:
    """A broker's loss moves its leaderships; the ingress must follow within seconds, losing nothing."""

    async def test_leader_sigkill_under_load(
        self, own_cluster: LocalCluster, cluster_bridge: tuple[Bridge, int], chaos_report: Report
    ) -> None:
        bridge, metrics_port = cluster_bridge
        work = await under_load(bridge)
        victim = leader_of_most(own_cluster, await input_leaders(own_cluster, bridge.input_topic))
        async with FailoverProbe(own_cluster, bridge, metrics_port) as probe:
            probe.fault({victim})
            await asyncio.to_thread(node(own_cluster, victim).kill)
            await bridge.hold(15.0)
            figures = probe.figures()
        await restart(own_cluster, victim)
        result = await bridge.check("cluster-leader-kill", transitions=work.transitions, **figures)
        chaos_report(result)
        assert_followed_the_leaders(result, figures)

    async def test_sigstop_one_broker_30s(
        self, own_cluster: LocalCluster, cluster_bridge: tuple[Bridge, int], chaos_report: Report
    ) -> None:
        bridge, metrics_port = cluster_bridge
        work = await under_load(bridge)
        victim = leader_of_most(own_cluster, await input_leaders(own_cluster, bridge.input_topic))
        process = node(own_cluster, victim).process
        assert process is not None
        async with FailoverProbe(own_cluster, bridge, metrics_port) as probe:
            probe.fault({victim})
            os.killpg(process.pid, signal.SIGSTOP)
            try:
                await bridge.hold(30.0)
            finally:
                os.killpg(process.pid, signal.SIGCONT)
            figures = probe.figures()
        result = await bridge.check("cluster-sigstop", transitions=work.transitions, **figures)
        chaos_report(result)
        assert_followed_the_leaders(result, figures)

    async def test_two_brokers_down_refuses_quickly_and_never_falsely(
        self, own_cluster: LocalCluster, cluster_bridge: tuple[Bridge, int], chaos_report: Report
    ) -> None:
        bridge, metrics_port = cluster_bridge
        work = await under_load(bridge)
        victims = {1, 2}
        async with FailoverProbe(own_cluster, bridge, metrics_port) as probe:
            probe.fault(victims)
            for victim in victims:
                await asyncio.to_thread(node(own_cluster, victim).kill)
            await bridge.hold(15.0)
            figures = probe.figures()
        for victim in victims:
            await restart(own_cluster, victim)
        result = await bridge.check("cluster-two-down", transitions=work.transitions, **figures)
        chaos_report(result)
        assert result.ok, result.to_json()  # lost = 0: no 200 without its record
        assert figures["first_503_s"] is not None and figures["first_503_s"] <= NO_QUORUM_503_S, figures

    async def test_rolling_restart_under_load(
        self, own_cluster: LocalCluster, cluster_bridge: tuple[Bridge, int], chaos_report: Report
    ) -> None:
        bridge, metrics_port = cluster_bridge
        work = await bridge.start_workload(60, rate_per_s=100)
        await bridge.wait_accepted(work.transitions // 4)
        worst: dict[str, Any] = {"ingress_503_s_after_failover": 0.0}
        for victim in range(1, len(own_cluster.nodes) + 1):
            async with FailoverProbe(own_cluster, bridge, metrics_port) as probe:
                probe.fault({victim})
                await asyncio.to_thread(node(own_cluster, victim).stop)
                await bridge.hold(5.0)
                step = probe.figures()
            await restart(own_cluster, victim)
            if (step["ingress_503_s_after_failover"] or 0.0) >= worst["ingress_503_s_after_failover"]:
                worst = step
        result = await bridge.check("cluster-rolling-restart", transitions=work.transitions, **worst)
        chaos_report(result)
        assert result.ok, result.to_json()
        assert worst["ingress_503_s_after_failover"] <= FAILOVER_BOUND_S, result.to_json()
