"""The writer's wait for other lanes counts from when a transaction's first write was queued
(processors.writer, processors.linger): a write that already waited behind the previous commit is not
held a full linger more, and a lone writer never waits. The commit itself is stubbed (no broker): what
is checked is when each group reaches it and which writes it holds."""

from __future__ import annotations

import asyncio
import time

from processors.state import MemoryState
from processors.txn_commit import GroupWrite
from processors.writer import PartitionWriter

LINGER_S = 0.3


class _Recorder:
    """Stands in for the commit: records each group's size and when it started, holds it `hold_s`."""

    def __init__(self) -> None:
        self.groups: list[tuple[int, float]] = []
        self.hold_s = 0.0

    async def commit(self, group: list[GroupWrite]) -> None:
        self.groups.append((len(group), time.monotonic()))
        await asyncio.sleep(self.hold_s)
        for item in group:
            item.done.set_result(None)


def _writer(recorder: _Recorder) -> PartitionWriter:
    writer = PartitionWriter(
        bootstrap="127.0.0.1:1",
        app_id="linger-test",
        partition=0,
        changelog="unused",
        state_factory=MemoryState,
        load_timeout_s=1.0,
        produce_timeout_s=1.0,
        backoff_max_s=1.0,
        group_linger_s=LINGER_S,
    )
    writer._commit_with_retry = recorder.commit  # type: ignore[method-assign]
    writer._task = asyncio.create_task(writer._loop())
    return writer


async def _stop(writer: PartitionWriter) -> None:
    assert writer._task is not None
    writer._task.cancel()
    await asyncio.gather(writer._task, return_exceptions=True)


async def test_a_lone_write_is_committed_without_waiting() -> None:
    recorder = _Recorder()
    writer = _writer(recorder)
    try:
        queued = time.monotonic()
        await asyncio.wait_for(writer.write([], []), 5)
        assert [1] == [size for size, _ in recorder.groups]
        assert recorder.groups[0][1] - queued < LINGER_S / 2
    finally:
        await _stop(writer)


async def test_the_linger_counts_from_the_first_queued_write() -> None:
    """Writes queued behind a commit as long as the linger are committed right after it, together."""
    recorder = _Recorder()
    writer = _writer(recorder)
    try:
        await asyncio.wait_for(asyncio.gather(writer.write([], []), writer.write([], [])), 5)
        assert [2] == [size for size, _ in recorder.groups]  # concurrent writers: lingering from now on
        recorder.hold_s = LINGER_S
        first = asyncio.gather(writer.write([], []), writer.write([], []))
        deadline = time.monotonic() + 5
        while len(recorder.groups) < 2:  # they linger (the last group had two), then their commit holds
            assert time.monotonic() < deadline, "the writes never reached their commit"
            await asyncio.sleep(0.005)
        queued = time.monotonic()
        behind = [asyncio.ensure_future(writer.write([], [])) for _ in range(3)]
        await asyncio.wait_for(asyncio.gather(first, *behind), 10)
        size, started = recorder.groups[-1]
        assert 3 == size
        # They waited through the whole previous commit (LINGER_S): no further linger on top.
        assert started - queued < LINGER_S * 1.5, started - queued
    finally:
        await _stop(writer)
