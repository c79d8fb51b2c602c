"""Where the worker's input consumer stands: each assigned partition's high watermark and lag.

The runtime asks it whether a partition is behind (a backlog waits in Kafka: larger transactions pay,
`processors.linger`) and exports the lag and the work lag (`unread_events` plus the events in flight:
the autoscaling signal). It is handed to the runtime when
it is built: the Faust app's view (`FaustInputPositions`), or none (`NO_CONSUMER`, benchmarks and tests
that feed the runtime directly).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from faust.types import TP

from processors.faust_adapter import committed_offset


class InputPositions(Protocol):
    def highwater(self, partition: int) -> int | None:
        """The partition's high watermark as the consumer last saw it; None when unknown."""
        ...

    def partition_lags(self) -> dict[int, float]:
        """End minus committed offset of each assigned input partition."""
        ...


class _NoConsumer:
    """No consumer: nothing known, no lag."""

    def highwater(self, partition: int) -> int | None:
        return None

    def partition_lags(self) -> dict[int, float]:
        return {}


NO_CONSUMER: Final[InputPositions] = _NoConsumer()


class FaustInputPositions:
    """The positions of a Faust app's consumer on `topic` (read when asked: the consumer starts later)."""

    def __init__(self, app: Any, topic: str) -> None:
        self._app = app
        self._topic = topic

    def highwater(self, partition: int) -> int | None:
        try:
            return self._app.consumer.highwater(TP(self._topic, partition))  # type: ignore[no-any-return]
        except Exception:  # not assigned (any more), or the consumer is not started: unknown
            return None

    def partition_lags(self) -> dict[int, float]:
        consumer = self._app.consumer
        lags: dict[int, float] = {}
        for tp in consumer.assignment():
            if tp.topic != self._topic:
                continue
            high = consumer.highwater(tp)
            committed = committed_offset(consumer, tp)
            if high is not None:
                lags[tp.partition] = float(max(0, high - (committed or 0)))
        return lags


def unread_events(
    lags: Mapping[int, float], highwater: Callable[[int], int | None], submitted: Mapping[int, int]
) -> float:
    """Events of the assigned partitions not read yet: past the offset last handed to the lanes.

    `lags` is end - committed per assigned partition (`partition_lags`); a partition that has handed
    nothing to the lanes yet (just assigned) counts its whole lag. With `submitted` it excludes what is
    held behind the committed offset but already read: finished events after an unfinished one, and
    parked events (`processors.parking`), neither of which another worker could take over.
    """
    unread = 0.0
    for partition, lag in lags.items():
        last = submitted.get(partition)
        high = highwater(partition)
        if last is None or high is None:
            unread += lag
        else:
            unread += min(lag, float(max(0, high - 1 - last)))
    return unread
