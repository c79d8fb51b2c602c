"""What a worker's unfinished events wait for, told to the operator instead of guessed.

An event can sit in a worker for minutes without being lost: OMS answers 404 and the order gets its
not-found grace (`worker_not_found_grace_s`), or OMS or Kafka fail and the batch backs off and retries.
Meanwhile the event has no timeline entry (entries are written when an outcome commits), its partition's
committed offset does not move, and a reshard's drain waits for it. `Waits` is the pipeline's note of
each order key's current wait (why, since when, until when, how many attempts); `pending_view` turns an
order's unfinished events and that note into the plain data the console serves (`vtex-bridge order`
shows it as pending, `topics reshard` names it while it drains). Read-only for everyone but the
pipeline; a key is forgotten once its batch finished (or the sweep finds no lane for it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from processors.timeline import replay_mark
from processors.work_view import WorkView

if TYPE_CHECKING:
    pass

#: `Wait.reason` values.
NOT_FOUND_GRACE: Final = "not-found-grace"
RETRY_BACKOFF: Final = "retry-backoff"
#: The reason of an event queued behind an earlier event of its order (its lane runs one batch at once).
BEHIND_EARLIER: Final = "behind-earlier-event"
#: The reason of a parked event (`processors.parked`): its account holds its bound of events already.
ACCOUNT_QUEUE_FULL: Final = "account-queue-full"


@dataclass(slots=True)
class Wait:
    """Why an order's current batch is not done yet."""

    reason: str
    #: What failed last: a retry cause of the pipeline (`oms-404`, `oms`, `oms-auth`, `kafka`, ...).
    cause: str
    since: float  # epoch seconds of the first failure of this batch
    attempts: int
    #: Epoch seconds the wait ends: the grace's end (not found), else the next retry.
    until: float | None

    def to_json(self, now: float) -> dict[str, Any]:
        value: dict[str, Any] = {
            "reason": self.reason,
            "cause": self.cause,
            "since": _iso(self.since),
            "waited_s": round(max(0.0, now - self.since), 1),
            "attempts": self.attempts,
        }
        if self.until is not None:
            value["until"] = _iso(self.until)
            value["left_s"] = round(max(0.0, self.until - now), 1)
        return value


class Waits:
    """Order key -> its batch's current wait (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._by_key: dict[str, Wait] = {}

    def not_found(self, key: str, grace_s: float, attempts: int) -> None:
        """OMS answered 404 for the order: it waits for its grace (counted from the first 404)."""
        now = self._clock()
        current = self._by_key.get(key)
        since = current.since if current is not None and current.reason == NOT_FOUND_GRACE else now
        self._by_key[key] = Wait(NOT_FOUND_GRACE, "oms-404", since, attempts, since + grace_s)

    def retrying(self, key: str, cause: str, attempts: int, delay_s: float) -> None:
        """The batch failed (`cause`) and retries after `delay_s`."""
        now = self._clock()
        current = self._by_key.get(key)
        since = current.since if current is not None else now
        self._by_key[key] = Wait(RETRY_BACKOFF, cause, since, attempts, now + delay_s)

    def done(self, key: str) -> None:
        self._by_key.pop(key, None)

    def get(self, key: str) -> Wait | None:
        return self._by_key.get(key)

    def prune(self, alive: Callable[[str], bool]) -> None:
        """Forget the waits of keys that have no batch any more (an abandoned lane)."""
        for key in [k for k in self._by_key if not alive(k)]:
            del self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)


def pending_view(
    running: Iterable[WorkView],
    queued: Iterable[WorkView],
    wait: Wait | None,
    now: float,
    *,
    parked: Iterable[tuple[int, int, int]] = (),
) -> list[dict[str, Any]]:
    """Return an order's unfinished events, oldest first: those being processed carry `wait` (or
    `processing` when nothing failed yet), those queued behind them `behind-earlier-event`. Then, for
    each `(partition, oldest offset, count)` of `parked`, its account's parked events in the order's
    partition (`processors.parked`: kept by offset only, so the order's own newer events, if any, are
    among them) as one entry `account-queue-full`."""
    entries = []
    for work in running:
        waiting = wait.to_json(now) if wait is not None else {"reason": "processing"}
        entries.append(_entry(work, "in-flight", waiting))
    for work in queued:
        entries.append(_entry(work, "queued", {"reason": BEHIND_EARLIER}))
    for partition, oldest, count in parked:
        entries.append(
            {
                "status": "parked",
                "input": {"partition": partition, "offset": oldest},
                "waiting": {"reason": ACCOUNT_QUEUE_FULL, "parked": count},
            }
        )
    return entries


def _entry(work: WorkView, status: str, waiting: dict[str, Any]) -> dict[str, Any]:
    event = work.event
    entry: dict[str, Any] = {
        "status": status,
        "input": {"partition": work.partition, "offset": work.offset},
        "waiting": waiting,
    }
    if event is not None:
        entry.update(
            event_id=event.event_id,
            state=event.state,
            source=event.source,
            received_at=event.received_at,
        )
    replayed = replay_mark(work.headers)
    if replayed is not None:
        entry["replay"] = {
            "dead_letter": {"topic": replayed[0], "partition": replayed[1], "offset": replayed[2]},
            "replayed_at": replayed[3],
        }
    return entry


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
