"""The worker's parking decision: which events of an account go to the lanes and which are parked.

With several VTEX accounts each holds at most `worker_max_pending_events_per_account` events in the lanes
(default: `worker_max_pending_events` shared equally, so however many accounts are down the
others keep room); beyond that, and while any of its events are parked in
the partition, its events are parked (`processors.parked`) and handed back by `processors.parked_reader`
once it has room. With one account there is nobody to protect: its events always go to the lanes and
the shared pending bound is its backpressure.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from processors.lanes import LaneScheduler
from processors.parked import Ack, ParkedEvents
from processors.parked_reader import ParkedReader, input_consumer
from processors.work import Work

log = logging.getLogger(__name__)


class Parking:
    """See the module docstring."""

    def __init__(
        self,
        lanes: LaneScheduler[Work],
        *,
        accounts: int,
        bound: int,
        topic: str,
        bootstrap: str,
        resubmit: Callable[[int, Any, Ack], Awaitable[None]],
        expired: Callable[[str], None] = lambda account: None,
    ) -> None:
        """`accounts`: how many the worker serves (parking is off with one); `bound`: events one
        account may hold in the lanes; `resubmit`: queues a record read back, `expired`: counts a parked
        event the input topic no longer held (`ParkedReader`)."""
        self.enabled = accounts > 1
        self.bound = max(1, bound)
        self._lanes = lanes
        self.events = ParkedEvents()
        self.reader = ParkedReader(
            self.events,
            topic=topic,
            room=self._room,
            resubmit=resubmit,
            consumer=input_consumer(bootstrap),
            expired=expired,
        )

    def divert(self, partition: int, lane_key: str, work: Work) -> bool:
        """Park `work` when its account is full or has parked events in `partition`; return whether."""
        if not self.enabled:
            return False
        account = self._lanes.class_of(lane_key)
        active = self.events.active(partition, account)
        if not active and self._lanes.class_pending(account) < self.bound:
            return False
        first = not active and not self.events.parked_for(account)  # looked up once per partition
        if not self.events.park(partition, account, work.offset, work.ack):
            work.ack()  # read again without a revocation: its first reading stays parked
            return True
        if first:
            log.warning(
                "parking an account's events: it holds its bound of events in the lanes",
                extra={"account": account, "partition": partition, "bound": self.bound},
            )
        self.reader.wake(partition, account)
        return True

    def summary(self, partition: int, account: str) -> list[tuple[int, int, int]]:
        """`[(partition, oldest parked offset, count)]` of `account` there (empty when none is parked)."""
        oldest = self.events.oldest(partition, account)
        return [] if oldest is None else [(partition, oldest, self.events.count(partition, account))]

    async def revoke(self, partitions: Iterable[int]) -> None:
        """Stop reading parked events of `partitions` and forget them (never acked: re-read there)."""
        revoked = set(partitions)
        await self.reader.stop(revoked)
        self.events.forget(revoked)

    async def stop(self) -> None:
        await self.reader.stop()

    async def _room(self, account: str) -> None:
        await self._lanes.wait_class_room(account, self.bound)
