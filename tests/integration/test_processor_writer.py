"""The transactional partition writer against a real broker: atomic commits, fencing, state retake."""

from __future__ import annotations

import orjson
import pytest

from processors.dedup import OrderMemory
from processors.records import Outgoing
from processors.writer import PartitionLost
from testkit.kafka import create_topics, read_all, unique
from testkit.worker import partition_writer

pytestmark = pytest.mark.integration


class TestPartitionWriter:
    """Records and state commit together; a second owner fences the first; retake notices foreign writes."""

    async def test_commit_fence_and_retake(self, kafka_bootstrap: str) -> None:
        app_id, out, changelog = unique("wr"), unique("out"), unique("cl")
        await create_topics(kafka_bootstrap, out, changelog, partitions=1)
        first = partition_writer(kafka_bootstrap, app_id, changelog)
        await first.start()
        try:
            await first.write([Outgoing(out, b"o1", b'{"n":1}')], [("o1", OrderMemory(seen={"e1": 1.0}))])
            assert {"e1"} == set(first.state.get("o1").seen)
            assert True is await first.retake()  # nobody else wrote: the local state is kept

            second = partition_writer(kafka_bootstrap, app_id, changelog)
            await second.start()  # same transactional id: fences `first`
            try:
                assert {"e1"} == set(second.state.get("o1").seen)  # loaded from the changelog
                await second.write([], [("o2", OrderMemory(seen={"e2": 2.0}))])
                with pytest.raises(PartitionLost):
                    await first.write([Outgoing(out, b"o1", b'{"n":2}')], [("o1", OrderMemory())])
            finally:
                await second.stop()

            assert False is await first.retake()  # the changelog moved on: state rebuilt
            assert ({"e1"}, {"e2"}) == (set(first.state.get("o1").seen), set(first.state.get("o2").seen))
            await first.write([Outgoing(out, b"o3", b'{"n":3}')], [])
        finally:
            await first.stop()
        values = [orjson.loads(m.value) for m in await read_all(kafka_bootstrap, out, timeout=20)]
        assert [{"n": 1}, {"n": 3}] == values  # the fenced write never became visible
