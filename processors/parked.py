"""Events of one account set aside by their input offset while that account's queue is full.

Several VTEX accounts share the input topic, so one account whose OMS is down (or throttled for long)
fills the worker's pending bound with events that wait and retry; at that bound the consumer stops
pulling and every account stalls. Instead, each account may hold at most
`worker_max_pending_events_per_account` events in the lanes; its later events are *parked*: the worker
keeps only their partition, offset and order key (no record), leaves them unfinished (so the
partition's committed offset stays at the oldest of them and a restart re-reads them), and reads them
again from the input topic, in offset order, once the account has room (`processors.parked_reader`).
While an account has parked events in a partition, its every later event there is parked too, so the
events of one order still reach their lane in offset order. The other accounts' events keep flowing.

Pure bookkeeping, no Kafka: `park` when the live consumer sets an event aside, `take` when the reader
hands it back to the lanes, `forget` on revocation (a new owner re-reads from the committed offset).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Parked:
    """One parked event: its order key (the lane it joins) and its ack (`OrderedAcks` done)."""

    key: str
    ack: Callable[[], object]


class ParkedEvents:
    """(input partition, account) -> the offsets parked there, oldest first; see the module docstring."""

    def __init__(self) -> None:
        #: Offsets arrive in increasing order per partition (the consumer's order), so each dict is
        #: ordered oldest first.
        self._parked: dict[tuple[int, str], dict[int, Parked]] = {}
        #: Order key -> its parked positions, for `vtex-bridge order` and the console.
        self._by_key: dict[str, list[tuple[int, int]]] = {}

    def active(self, partition: int, account: str) -> bool:
        """Whether `account` has parked events in `partition` (then its later ones park too)."""
        return (partition, account) in self._parked

    def park(self, partition: int, account: str, offset: int, key: str, ack: Callable[[], object]) -> None:
        self._parked.setdefault((partition, account), {})[offset] = Parked(key, ack)
        self._by_key.setdefault(key, []).append((partition, offset))

    def take(self, partition: int, account: str, offset: int) -> Parked | None:
        """Remove and return the parked event at `offset` (None when that offset is not parked)."""
        offsets = self._parked.get((partition, account))
        if offsets is None:
            return None
        parked = offsets.pop(offset, None)
        if parked is None:
            return None
        if not offsets:
            del self._parked[(partition, account)]
        self._unindex(parked.key, partition, offset)
        return parked

    def get(self, partition: int, account: str, offset: int) -> Parked | None:
        """The parked event at `offset`, left in place (None when that offset is not parked)."""
        return self._parked.get((partition, account), {}).get(offset)

    def contains(self, partition: int, account: str, offset: int) -> bool:
        return offset in self._parked.get((partition, account), ())

    def count(self, partition: int, account: str) -> int:
        return len(self._parked.get((partition, account), ()))

    def oldest(self, partition: int, account: str) -> int | None:
        """The oldest parked offset of `account` in `partition` (None when none is parked)."""
        offsets = self._parked.get((partition, account))
        return next(iter(offsets)) if offsets else None

    def newest(self, partition: int, account: str) -> int | None:
        """The newest parked offset of `account` in `partition` (None when none is parked)."""
        offsets = self._parked.get((partition, account))
        return next(reversed(offsets)) if offsets else None

    def positions(self, key: str) -> list[tuple[int, int]]:
        """The order's parked (partition, offset) pairs, oldest first."""
        return list(self._by_key.get(key, ()))

    def forget(self, partitions: Iterable[int]) -> int:
        """Drop what is parked in `partitions` (revoked: never acked, so re-read); return how many."""
        gone = set(partitions)
        dropped = 0
        for where in [w for w in self._parked if w[0] in gone]:
            for offset, parked in self._parked.pop(where).items():
                self._unindex(parked.key, where[0], offset)
                dropped += 1
        return dropped

    def by_account(self, accounts: Iterable[str] = ()) -> dict[str, float]:
        """Parked events per account (every name of `accounts` present, 0 when none)."""
        counts = dict.fromkeys(accounts, 0.0)
        for (_partition, account), offsets in self._parked.items():
            counts[account] = counts.get(account, 0.0) + len(offsets)
        return counts

    def where(self) -> list[tuple[int, str]]:
        """Every (partition, account) with parked events."""
        return list(self._parked)

    def __len__(self) -> int:
        return sum(len(offsets) for offsets in self._parked.values())

    def _unindex(self, key: str, partition: int, offset: int) -> None:
        positions = self._by_key.get(key)
        if positions is None:
            return
        try:
            positions.remove((partition, offset))
        except ValueError:
            return
        if not positions:
            del self._by_key[key]
