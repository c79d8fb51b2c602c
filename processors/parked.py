"""Events of one account set aside by their input offset while that account's queue is full.

Several VTEX accounts share the input topic, so one account whose OMS is down (or throttled for long)
fills the worker's pending bound with events that wait and retry; at that bound the consumer stops
pulling and every account stalls. Instead, each account may hold at most
`worker_max_pending_events_per_account` events in the lanes; its later events are *parked*: the worker
keeps only their offset and their ack (no record, no order key: about 200 bytes each with the offset's
entry in `processors.ordered_acks`), leaves them unfinished (so the partition's committed offset stays
at the oldest of them and a restart re-reads them), and reads them again from the input topic, in
offset order, once the account has room (`processors.parked_reader`). While an account has parked
events in a partition, its every later event there is parked too, so the events of one order still
reach their lane in offset order. The other accounts' events keep flowing.

Pure bookkeeping, no Kafka: `park` when the live consumer sets an event aside (offsets arrive in
increasing order per partition), `take` when the reader hands it back to the lanes (oldest first),
`forget` on revocation (a new owner re-reads from the committed offset).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable

Ack = Callable[[], object]


class _Parked:
    """The parked offsets of one account in one partition, oldest first, and their acks."""

    __slots__ = ("acks", "head", "offsets")

    def __init__(self) -> None:
        self.offsets = array("q")
        self.acks: list[Ack | None] = []
        self.head = 0  # offsets[head:] are parked; the ones before were taken

    def __len__(self) -> int:
        return len(self.offsets) - self.head

    def index(self, offset: int) -> int | None:
        at = bisect_left(self.offsets, offset, self.head)
        return at if at < len(self.offsets) and self.offsets[at] == offset else None

    def pop(self, at: int) -> Ack:
        ack = self.acks[at]
        assert ack is not None
        if at == self.head:
            self.acks[at] = None
            self.head += 1
            if self.head > len(self.offsets) // 2:
                del self.offsets[: self.head]
                del self.acks[: self.head]
                self.head = 0
        else:  # not the oldest: the reader takes them in order, so only after a seek back
            del self.offsets[at]
            del self.acks[at]
        return ack


class ParkedEvents:
    """(input partition, account) -> the offsets parked there; see the module docstring."""

    def __init__(self) -> None:
        self._parked: dict[tuple[int, str], _Parked] = {}

    def active(self, partition: int, account: str) -> bool:
        """Whether `account` has parked events in `partition` (then its later ones park too)."""
        return (partition, account) in self._parked

    def park(self, partition: int, account: str, offset: int, ack: Ack) -> bool:
        """Park the event at `offset`; return False when that offset is parked already (a record read
        again without a revocation: its first reading stays parked, the caller acks this one)."""
        parked = self._parked.get((partition, account))
        if parked is None:
            parked = self._parked[(partition, account)] = _Parked()
        if not len(parked) or offset > parked.offsets[-1]:
            parked.offsets.append(offset)  # the usual case: offsets arrive in increasing order
            parked.acks.append(ack)
            return True
        if parked.index(offset) is not None:
            return False
        at = bisect_left(parked.offsets, offset, parked.head)
        parked.offsets.insert(at, offset)
        parked.acks.insert(at, ack)
        return True

    def contains(self, partition: int, account: str, offset: int) -> bool:
        return self.get(partition, account, offset) is not None

    def get(self, partition: int, account: str, offset: int) -> Ack | None:
        """The ack of the parked event at `offset`, left in place (None when that offset is not parked)."""
        parked = self._parked.get((partition, account))
        at = None if parked is None else parked.index(offset)
        return None if parked is None or at is None else parked.acks[at]

    def take(self, partition: int, account: str, offset: int) -> Ack | None:
        """Remove the parked event at `offset` and return its ack (None when it is not parked)."""
        parked = self._parked.get((partition, account))
        at = None if parked is None else parked.index(offset)
        if parked is None or at is None:
            return None
        ack = parked.pop(at)
        if not len(parked):
            del self._parked[(partition, account)]
        return ack

    def oldest(self, partition: int, account: str) -> int | None:
        """The oldest parked offset of `account` in `partition` (None when none is parked)."""
        parked = self._parked.get((partition, account))
        return parked.offsets[parked.head] if parked is not None else None

    def newest(self, partition: int, account: str) -> int | None:
        """The newest parked offset of `account` in `partition` (None when none is parked)."""
        parked = self._parked.get((partition, account))
        return parked.offsets[-1] if parked is not None else None

    def count(self, partition: int, account: str) -> int:
        parked = self._parked.get((partition, account))
        return len(parked) if parked is not None else 0

    def forget(self, partitions: Iterable[int]) -> int:
        """Drop what is parked in `partitions` (revoked: never acked, so re-read); return how many."""
        gone = set(partitions)
        dropped = 0
        for where in [w for w in self._parked if w[0] in gone]:
            dropped += len(self._parked.pop(where))
        return dropped

    def by_account(self, accounts: Iterable[str] = ()) -> dict[str, float]:
        """Parked events per account (every name of `accounts` present, 0 when none)."""
        counts = dict.fromkeys(accounts, 0.0)
        for (_partition, account), parked in self._parked.items():
            counts[account] = counts.get(account, 0.0) + len(parked)
        return counts

    def where(self) -> list[tuple[int, str]]:
        """Every (partition, account) with parked events."""
        return list(self._parked)

    def parked_for(self, account: str) -> bool:
        """Whether `account` has parked events in any partition."""
        return any(a == account for _p, a in self._parked)

    def __len__(self) -> int:
        return sum(len(parked) for parked in self._parked.values())
