"""The partition writer keeps order timelines against a real broker: in the transaction, with the
record positions, reloaded by the next owner, rebuilt on retake after foreign writes, expired."""

from __future__ import annotations

import orjson
import pytest

from processors.dedup import OrderMemory
from processors.records import Outgoing
from processors.timeline import TimelineOp, entry, expand
from processors.writer import PartitionLost, PartitionWriter
from testkit.kafka import create_topics, read_all, unique
from testkit.worker import partition_writer

pytestmark = pytest.mark.integration


def op(order_id: str, t: float, outcome: str = "emitted", record: int | None = 0) -> TimelineOp:
    return TimelineOp(order_id, [entry(t, outcome=outcome, partition=0, offset=int(t), record=record)])


def outcomes(w: PartitionWriter, order_id: str) -> list[tuple[str, int | None]]:
    assert w.timeline is not None
    items = [expand(e) for e in w.timeline.get(order_id)]
    return [(e["outcome"], (e.get("record") or {}).get("offset")) for e in items]


class TestTimelineWriter:
    """Timeline entries commit with their records and name the offsets those records got."""

    async def test_commit_positions_reload_fence_retake_expire(self, kafka_bootstrap: str) -> None:
        app_id, out, changelog, timeline = unique("tw"), unique("out"), unique("cl"), unique("tl")
        await create_topics(kafka_bootstrap, out, changelog, timeline, partitions=1)
        first = partition_writer(kafka_bootstrap, app_id, changelog, timeline)
        await first.start()
        try:
            memory = OrderMemory(seen={"e1": 1.0})
            await first.write([Outgoing(out, b"o1", b"{}")], [("o1", memory)], [op("o1", 1.0)])
            await first.write([Outgoing(out, b"o1", b"{}")], [("o1", memory)], [op("o1", 2.0)])
            await first.write([], [], [op("o1", 3.0, "duplicate", None)])  # a timeline-only write
            # Each transaction's commit marker takes an offset of `out` too: records land at 0, 2, 4.
            assert [("emitted", 0), ("emitted", 2), ("duplicate", None)] == outcomes(first, "o1")
            await first.write([Outgoing(out, b"o1", b"{}")], [], [op("o1", 4.0)])
            assert [("emitted", 2), ("duplicate", None), ("emitted", 4)] == outcomes(first, "o1")  # bound 3
            assert True is await first.retake()

            second = partition_writer(kafka_bootstrap, app_id, changelog, timeline)
            await second.start()  # fences `first`, loads the timeline from its changelog
            try:
                assert outcomes(first, "o1") == outcomes(second, "o1")
                await second.write([], [], [op("o2", 5.0, "duplicate", None)])  # only the timeline moves
                with pytest.raises(PartitionLost):
                    await first.write([Outgoing(out, b"o1", b"{}")], [], [op("o1", 6.0)])
            finally:
                await second.stop()

            assert False is await first.retake()  # the timeline changelog moved on: rebuilt
            assert [("duplicate", None)] == outcomes(first, "o2")
            assert 3 == len(outcomes(first, "o1"))  # the fenced write left nothing

            await first.write(
                [], [], [TimelineOp("o1", expire_before=3.5), TimelineOp("o2", expire_before=9)]
            )
            assert ([("emitted", 4)], []) == (outcomes(first, "o1"), outcomes(first, "o2"))
        finally:
            await first.stop()
        records = await read_all(kafka_bootstrap, timeline, timeout=20)
        last = {m.key: m.value for m in records}
        assert None is last[b"o2"]  # an emptied timeline is a tombstone
        assert [4] == [e["rec"][2] for e in orjson.loads(last[b"o1"])]
        assert [0, 2, 4] == [m.offset for m in await read_all(kafka_bootstrap, out, timeout=20)]
