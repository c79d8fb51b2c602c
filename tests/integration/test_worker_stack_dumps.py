"""A real worker answers SIGUSR1 with its stacks (threads, and the tasks of both its event loops) and goes
on working; mode's own dump, which prints every frame's local variables, is not used. A stop that takes
longer than `worker_stop_timeout_s` writes the same stacks and exits with code 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.stack_dumps import END_OF_DUMP
from bridge.stop_watchdog import STOP_TIMEOUT_EXIT_CODE
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, wait_until
from testkit.worker import WorkerConfig, WorkerProcess, downstream, lifecycle, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]


async def test_worker_writes_its_stacks_and_keeps_working(
    kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
) -> None:
    config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
    await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
    with WorkerProcess(config, tmp_path) as worker:
        await worker.start()
        assert await worker.dump_stacks()
        log = worker.log_path.read_text(errors="replace")
        assert 1 == log.count("Current thread 0x")  # faulthandler's C handler, in front of the loop's
        assert "--- threads of pid" not in log  # not written a second time from Python
        assert log.count("(running):") >= 2  # the main loop and the consumer thread's
        assert "processors/" in log  # our own tasks, with where they wait
        assert "LOCAL VARIABLES" not in log

        events = lifecycle("ord-after-dump", 3)
        await produce(kafka_bootstrap, config.input_topic, events)
        topics = [config.status_topic(e.state or "unknown") for e in events]

        async def all_there() -> bool:
            return len(await downstream(kafka_bootstrap, topics)) >= len(events)

        await wait_until(all_there, timeout=60, message="the events produced after the dump")
        assert 0 == await worker.terminate()
        assert [] == worker.error_lines()


async def test_a_stop_past_its_bound_writes_the_stacks_and_exits(
    kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
) -> None:
    """Faust's stop always takes over a second (its loop shutdown sleeps 1 s), so a 0.2 s bound is
    always passed: the watchdog logs why, writes the threads' and tasks' stacks and exits with its own
    code."""
    config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
    config.extra["VTEX_BRIDGE_WORKER_STOP_TIMEOUT_S"] = "0.2"
    await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
    with WorkerProcess(config, tmp_path) as worker:
        await worker.start()
        assert STOP_TIMEOUT_EXIT_CODE == await worker.terminate(cut_short_ok=True)
        log = worker.log_path.read_text(errors="replace")
        assert "graceful stop did not finish in time" in log
        assert '"stop_timeout_s":0.2' in log
        assert "Thread 0x" in log  # every thread's stack, the main thread's included
        assert "(running):" in log  # the main loop's tasks, where the stop waits
        assert log.rstrip().endswith(END_OF_DUMP)
