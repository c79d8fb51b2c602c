"""Chaos: the Feed v3 backup path. Hook and feed deliver the same events; the poller crashes mid-lot.

With Feed v3 configured (same every-change filter as the hook), every event VTEX notified must come out,
whatever happened to its hook: the poller commits an item only after Kafka acknowledged it. These
scenarios run the simulator 100x faster than VTEX so the feed's 240 s visibility timeout is 2.4 s.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable

import pytest

from bridge.local_kafka import LocalKafka
from testkit.checker import CheckResult, read_inputs
from testkit.harness import Bridge, BridgeFactory
from testkit.kafka import wait_until

Report = Callable[[CheckResult], None]
#: How long a killed lot may take to come back (visibility timeout 2.4 s at 100x, plus reads).
REAPPEAR_S = 10.0
#: Bound on kills while looking for one that lands between a lot's produce and its commit.
MAX_POLLER_KILLS = 5


async def feed_repeats(bridge: Bridge) -> int:
    """Return how many input records the feed poller produced for an event it had produced before."""
    feed_ids = [
        r.event_id for r in await read_inputs(bridge.bootstrap, bridge.input_topic) if r.source == "feed"
    ]
    return len(feed_ids) - len(set(feed_ids))


async def feed_repeated(bridge: Bridge) -> bool:
    return await feed_repeats(bridge) > 0


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestHookPlusFeed:
    """Every event arrives twice (hook and feed, plus 10% hook re-sends): one downstream record each."""

    async def test_double_delivery(self, bridge_factory: BridgeFactory, chaos_report: Report) -> None:
        bridge = await bridge_factory(
            seed=41, time_compression=100.0, duplicate_rate=0.1, with_feed_poller=True
        )
        work = await bridge.start_workload(40, rate_per_s=100)
        result = await bridge.check("hook-plus-feed", feed=True, transitions=work.transitions)
        chaos_report(result)
        assert result.ok, result.to_json()
        assert result.input_by_source.get("feed", 0) > 0, "the feed poller produced nothing"
        assert result.input_by_source.get("hook", 0) > 0, "the hook delivered nothing"


@pytest.mark.chaos
@pytest.mark.chaos_full
class TestFeedPollerKill:
    """The poller killed with -9 between a lot's produce and its commit: the lot comes back after the
    visibility timeout, is produced again, and de-dup keeps one record per event.

    To land the kill in that window on purpose, the broker is frozen (SIGSTOP) first: the poller reads a
    lot (the simulator counts the read), sends it and waits for acknowledgements that cannot come; then it
    is killed and the broker resumed, and the broker appends the records still in its socket buffer. The
    hook is paused meanwhile (only the feed delivers), then resumed, so each event also arrives twice.
    """

    async def test_kill9_between_produce_and_commit(
        self, own_kafka: LocalKafka, bridge_factory: BridgeFactory, chaos_report: Report
    ) -> None:
        bridge = await bridge_factory(
            broker=own_kafka, seed=42, time_compression=100.0, with_feed_poller=True
        )
        poller = bridge.feed_poller
        assert poller is not None
        await bridge.vtex.controls(hook_paused=True)
        work = await bridge.start_workload(60, rate_per_s=100)
        kills = 0
        repeats = 0
        while kills < MAX_POLLER_KILLS and not repeats and await bridge.vtex.feed_backlog():
            await bridge.wait_input_records(await bridge.input_count() + 10)
            read = await bridge.vtex.counter("feed_items_read")
            bridge.broker_signal(signal.SIGSTOP)
            try:
                await bridge.wait_counter("feed_items_read", at_least=read + 1, timeout=30)
                await bridge.hold(0.5)  # the lot's produce request leaves the poller (linger, send)
                bridge.kill(poller)
                kills += 1
            finally:
                bridge.broker_signal(signal.SIGCONT)
            await bridge.restart(poller)
            # The killed lot is invisible for the visibility timeout (2.4 s here), then read again.
            with contextlib.suppress(AssertionError):
                await wait_until(lambda: feed_repeated(bridge), timeout=REAPPEAR_S, interval=0.5)
            repeats = await feed_repeats(bridge)
        await bridge.settle(feed=True, hook=False)  # the feed alone delivered everything
        await bridge.vtex.controls(hook_paused=False)
        result = await bridge.check("feed-poller-kill9", feed=True, transitions=work.transitions, kills=kills)
        chaos_report(result)
        assert result.ok, result.to_json()
        assert result.input_repeats_by_source.get("feed", 0) > 0, (
            f"none of {kills} kills landed between produce and commit: the scenario proves nothing"
        )
