"""Which worker owns an order: its input partition, and the URL of the worker that partition is on.

An order's events, de-dup state and timeline all live on one input partition (everything is keyed by
OrderId), so "who can answer for order X" is "who owns partition murmur2(X) mod N". Who owns which
partition comes from the workers' own announcements (`processors.console.directory`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aiokafka.partitioner import murmur2

#: member URL -> topic -> partitions it owns (Faust's HostToPartitionMap).
Distribution = Mapping[str, Mapping[str, Sequence[int]]]


def partition_for(order_id: str, partitions: int) -> int:
    """Return the input partition of `order_id`: what the producers' default partitioner picks.

    Same murmur2 as aiokafka's `DefaultPartitioner` and the Java client (the ingress, the feed poller
    and backfill all key by OrderId and leave the choice to it).
    """
    return int((murmur2(order_id.encode()) & 0x7FFFFFFF) % max(1, partitions))


class Owners:
    """Answers "which partition, and which worker" from the group's current assignment."""

    def __init__(
        self,
        input_topic: str,
        default_partitions: int,
        distribution: Callable[[], Distribution],
        partition_count: Callable[[], int | None] | None = None,
    ) -> None:
        self._topic = input_topic
        self._default = default_partitions
        self._distribution = distribution
        self._partition_count = partition_count or (lambda: None)

    def _owned(self) -> dict[int, str]:
        owners: dict[int, str] = {}
        for url, topics in self._distribution().items():
            for partition in topics.get(self._topic, ()):
                owners[int(partition)] = str(url).rstrip("/")
        return owners

    def locate(self, order_id: str) -> tuple[int, str | None]:
        """Return the order's input partition and its owner's URL (None before the first assignment)."""
        owned = self._owned()
        # The cluster's count when known; else every partition is owned by someone, so the highest tells.
        count = self._partition_count() or (max(owned) + 1 if owned else self._default)
        partition = partition_for(order_id, count)
        return partition, owned.get(partition)
