"""Connecting an account end to end, as docs/connect-your-account.md tells an operator to: `hook ensure`
points the simulator's hook at the real ingress, `feed set` + the feed poller back it up, `backfill`
re-injects orders; all three land in one input topic with the same keys and event ids, so de-dup on
event_id (the processor's own `processors.dedup` functions) leaves exactly one event per change.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bridge.cli.commands.hook.silence import EXIT_SILENT
from bridge.events import decode_input_event
from bridge.feed_poller.service import run_poller
from bridge.settings import load_settings
from processors.dedup import EMPTY, OrderMemory, is_duplicate, remember
from simulator.server import SimHandle
from testkit.cli import cli
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.ingress import running_ingress_ports
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration

SECRET = "e2e-hook-Mw4Xc8Vb2Nz6Qa1Ls5Kd"  # strong enough for the production profile
TTL_S = 6 * 24 * 3600.0


def downstream(records: list[Any]) -> list[str]:
    """Return the event ids the processor would emit: records in topic order, de-duplicated per order."""
    memory: dict[str, OrderMemory] = {}
    emitted = []
    now = time.time()
    for record in records:
        event = decode_input_event(record.value)
        current = memory.get(event.order_id, EMPTY)
        if is_duplicate(current, event.event_id, now, TTL_S):
            continue
        memory[event.order_id] = remember(current, event.event_id, now, event.state, event.last_change)
        emitted.append(event.event_id)
    return emitted


class TestConnectAnAccount:
    """Hook, feed poller and backfill feed one topic; de-dup leaves one event per change."""

    async def test_hook_feed_and_backfill(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        sim: SimHandle = await sim_factory()
        topic = unique("cp-input")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        statuses = "payment-approved,ready-for-handling,handling,invoiced,canceled"
        for name, value in {
            "VTEX_BRIDGE_VTEX_BASE_URL": sim.base_url,
            "VTEX_BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "VTEX_BRIDGE_INPUT_TOPIC": topic,
            "VTEX_BRIDGE_HOOK_SECRET": SECRET,
            "VTEX_BRIDGE_CONTROL_HOOK_STATUSES": statuses,
            "VTEX_BRIDGE_LOG_FORMAT": "text",
        }.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()

        async with running_ingress_ports(settings) as ports:
            base, metrics = f"http://127.0.0.1:{ports.hook}", f"http://127.0.0.1:{ports.metrics}/metrics"
            ensure = ("hook", "ensure", "--url", f"{base}{settings.ingress_path}", "--allow-http",
                      "--ingress-metrics-url", metrics, "--fail-on-silence")  # fmt: skip
            code, _, err = await cli(capsys, *ensure)
            assert EXIT_SILENT == code, err  # configured, but the ingress has not seen a hook yet
            assert "hook configured" in err and "has received no hook" in err
            assert (0, "") == (await cli(capsys, "feed", "set"))[:2]

            transitions = list(sim.workload(orders=6).transitions())
            for transition in transitions:
                sim.emit(transition)
            notifications = sim.sender.stats()["notifications"]
            assert notifications > 0
            await wait_until(
                lambda: sim.sender.stats()["accepted"] == notifications, timeout=60, message="hooks accepted"
            )

            code, _, err = await cli(capsys, *ensure)
            assert 0 == code and "hook unchanged" in err and "warning" not in err

        stop = asyncio.Event()
        poller = asyncio.create_task(run_poller(settings, stop, serve_http=False))
        try:
            feed = sim.store.get_feed(sim.config.app_key)
            assert feed is not None
            await wait_until(lambda: feed.queue.quantity() == 0, timeout=60, message="feed drained")
        finally:
            stop.set()
            await asyncio.wait_for(poller, 30)

        order_ids = list(dict.fromkeys(t.order_id for t in transitions))
        ids_file = tmp_path / "missed.txt"
        ids_file.write_text("\n".join(order_ids) + "\n")
        runs = []
        for _ in range(2):
            code, out, err = await cli(capsys, "backfill", "--order-ids", str(ids_file))
            assert 0 == code, err
            runs.append(sorted(line.split("\t")[3] for line in out.splitlines()))
        assert runs[0] == runs[1], "a second backfill run repeats the same event ids"

        records = await read_all(kafka_bootstrap, topic, expected=2 * notifications + 2 * len(order_ids))
        by_source: dict[str, Counter[str]] = {}
        for record in records:
            event = decode_input_event(record.value)
            assert event.order_id.encode() == record.key
            by_source.setdefault(event.source, Counter())[event.event_id] += 1
        assert notifications == len(by_source["hook"])
        assert by_source["hook"].keys() == by_source["feed"].keys(), "the feed carries the hooks' event ids"
        assert dict.fromkeys(runs[0], 2) == dict(by_source["backfill"])

        emitted = downstream(records)
        assert len(emitted) == len(set(emitted))
        assert set(by_source["hook"]) | set(runs[0]) == set(emitted)
