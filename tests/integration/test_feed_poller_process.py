"""`vtex-bridge feed poll` as a real process: SIGKILL at an arbitrary moment loses no event; a restarted
poller serves /healthz, drains the feed and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bridge.events import build_input_event, decode_input_event
from bridge.local_kafka import free_port
from bridge.statuses import KNOWN_STATUSES
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.config_models import FeedConfig, FeedQueue, HookConfig, WorkflowFilter
from simulator.server import SimHandle
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.sim import HookReceiver, SimFactory

pytestmark = pytest.mark.integration

COMPRESSION = 20.0
VISIBILITY_S = 40  # 2 real seconds
ALL = WorkflowFilter(KNOWN_STATUSES)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Track started pollers; kill any still running at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def start_poller(
    env: dict[str, str], log: Path, processes: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "feed", "poll"], env=env, stdout=sink, stderr=sink
        )
    processes.append(proc)
    return proc


async def healthy(url: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r,
        ):
            return r.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


class TestPollerProcess:
    """A killed poller process loses nothing; its successor finishes the job."""

    async def test_sigkill_then_restart(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        tmp_path: Path,
        processes: list[subprocess.Popen[bytes]],
        hook_receiver: HookReceiver,
    ) -> None:
        sim: SimHandle = await sim_factory(time_compression=COMPRESSION)
        topic = unique("poll-proc")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        async with ConfigApiClient(
            base_url=sim.base_url, app_key=sim.config.app_key, app_token=sim.config.app_token, timeout_s=5.0
        ) as client:
            await client.set_feed_config(FeedConfig(ALL, FeedQueue(VISIBILITY_S, 345600)))
            await client.set_hook_config(HookConfig(ALL, hook_receiver.url, {}))
        for transition in sim.workload(orders=6).transitions():
            sim.emit(transition)
        feed = sim.store.get_feed(sim.config.app_key)
        assert feed is not None
        depth = feed.queue.quantity()
        # The hooks of the same changes (same filter): what must reach Kafka through the feed.
        await wait_until(lambda: len(hook_receiver.accepted_bodies()) >= depth, timeout=30, message="hooks")
        expected = {build_input_event(b, source="hook").event_id for b in hook_receiver.accepted_bodies()}
        assert depth == len(expected)
        port = free_port()
        env = {
            **os.environ,
            "VTEX_BRIDGE_VTEX_BASE_URL": sim.base_url,
            "VTEX_BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "VTEX_BRIDGE_INPUT_TOPIC": topic,
            "VTEX_BRIDGE_FEED_POLL_MAXLOT": "2",
            "VTEX_BRIDGE_FEED_POLL_RATE_PER_S": "12",  # read + commit per lot: about 6 lots a second
            "VTEX_BRIDGE_FEED_POLL_IDLE_S": "0.1",
            "VTEX_BRIDGE_FEED_POLL_HTTP_PORT": str(port),
        }
        log = tmp_path / "poller.log"

        first = start_poller(env, log, processes)
        await wait_until(
            lambda: sim.simulator.counters["feed_items_read"] >= 5, timeout=60, message="first lots read"
        )
        first.kill()  # SIGKILL: no cleanup, wherever it was (reading, producing, committing)
        first.wait(timeout=10)
        assert feed.queue.quantity() > 0, "killed before the feed was drained"

        second = start_poller(env, log, processes)
        await wait_until(lambda: healthy(f"http://127.0.0.1:{port}/healthz"), timeout=60, message="healthz")
        await wait_until(lambda: feed.queue.quantity() == 0, timeout=90, message="feed drained")
        second.send_signal(signal.SIGTERM)
        assert 0 == second.wait(timeout=30), log.read_text()[-3000:]

        produced = [decode_input_event(r.value).event_id for r in await read_all(kafka_bootstrap, topic)]
        assert expected == set(produced), "every feed event reached Kafka, and nothing else"
