"""Chaos: the Kafka broker restarts, crashes or freezes while orders flow (a private broker per scenario)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from bridge.local_kafka import LocalKafka
from testkit.checker import CheckResult
from testkit.harness import BridgeFactory

Report = Callable[[CheckResult], None]


@pytest.mark.chaos
class TestBrokerRestart:
    """A clean broker restart mid-stream: the ingress answers 503, VTEX retries, the worker recovers."""

    async def test_restart_mid_stream(
        self, own_kafka: LocalKafka, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(broker=own_kafka, seed=21)
        work = await bridge.start_workload(40, rate_per_s=100)
        await bridge.wait_accepted(work.transitions // 3)
        await bridge.broker_restart(kill=False)
        result = await bridge.check("broker-restart", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestBrokerCrash:
    """A broker killed with -9 mid-stream (open transactions, unflushed log) and started again."""

    async def test_kill9_mid_stream(
        self, own_kafka: LocalKafka, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(broker=own_kafka, seed=22)
        work = await bridge.start_workload(40, rate_per_s=100)
        await bridge.wait_accepted(work.transitions // 3)
        await bridge.broker_restart(kill=True)
        result = await bridge.check("broker-kill9", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestBrokerFreeze:
    """A broker frozen (SIGSTOP) for longer than the ingress's answer deadline, then resumed."""

    async def test_sigstop_sigcont(
        self, own_kafka: LocalKafka, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(broker=own_kafka, seed=23)
        work = await bridge.start_workload(40, rate_per_s=100)
        await bridge.wait_accepted(work.transitions // 3)
        bridge.broker_signal(signal.SIGSTOP)
        try:
            await bridge.hold(8.0)  # past the ingress's 4 s answer deadline and the worker's 6 s session
        finally:
            bridge.broker_signal(signal.SIGCONT)
        result = await bridge.check("broker-sigstop", transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()
