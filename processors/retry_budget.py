"""How long a failing batch is retried before its events are dead-lettered as an *isolated* failure.

A batch whose OMS read keeps failing is retried with capped exponential backoff. Its budget is spent
after `worker_event_retry_attempts` failures over at least `worker_event_retry_s`; it is dead-lettered
only if the failure is isolated too (its account's outage rule, `processors.failure_rule`, saw OMS
serve other orders meanwhile). An outage holds the lane instead, for as long as it takes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from bridge.settings import Settings
from processors.failure_rule import FailureRule
from processors.outcomes import Permanent

#: First retry delay of a failed batch; doubles up to `worker_retry_backoff_max_s`.
RETRY_BASE_S = 0.2
#: An order whose event was dead-lettered for an isolated failure is *suspect* for this many retry
#: budgets: its next batch gets one attempt instead of a whole budget (the same order usually fails the
#: same way, and its later events should not each hold the partition for a budget), unless it succeeds.
SUSPECT_BUDGETS = 5


class Failures:
    """The isolated-failure budget of one batch: OMS read failures counted since the first one."""

    __slots__ = ("attempts", "first", "last_error")

    def __init__(self) -> None:
        self.attempts = 0
        self.first: float | None = None
        self.last_error = ""

    def failed(self, error: str, now: float) -> None:
        self.attempts += 1
        if self.first is None:
            self.first = now
        self.last_error = error

    def spent(self, attempts: int, seconds: float, now: float) -> bool:
        return self.attempts >= attempts and self.first is not None and now - self.first >= seconds


class RetryBudget:
    """The give-up decision of failing batches, and the orders made suspect by an earlier one."""

    def __init__(self, settings: Settings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._monotonic = monotonic
        #: order -> monotonic time its event was dead-lettered for an isolated failure (SUSPECT_BUDGETS).
        self._suspect: dict[str, float] = {}

    def give_up(self, key: str, rule: FailureRule, failures: Failures) -> Permanent | None:
        """Return the dead-letter reason when the batch's budget is spent and its failure isolated."""
        settings = self._settings
        now = self._monotonic()
        attempts, seconds = settings.worker_event_retry_attempts, settings.worker_event_retry_s
        suspect = self._suspect.get(key)
        since = failures.first  # only other orders' outcomes since this batch began to fail count
        if suspect is not None and now - suspect < SUSPECT_BUDGETS * max(seconds, 1.0):
            # This order's previous event was dead-lettered the same way: one attempt, and the rule's
            # whole window counts (the order is known bad; the traffic that proved it may be over).
            attempts, seconds, since = 1, 0.0, None
        if not failures.spent(attempts, seconds, now) or not rule.isolated(key, since):
            return None
        assert failures.first is not None
        waited = round(now - failures.first, 1)
        detail = (
            f"OMS read failed {failures.attempts} times over {waited} s while other orders were served;"
            f" last error: {failures.last_error}"
        )
        facts = {"attempts": failures.attempts, "retried_s": waited, "last_error": failures.last_error}
        return Permanent("oms-unavailable", detail, facts)

    def settled(self, key: str, *, gave_up: bool) -> None:
        """A batch of `key` with new events committed: dead-lettered by a give-up (suspect), or not."""
        if gave_up:
            self._suspect[key] = self._monotonic()
        else:
            self._suspect.pop(key, None)

    def backoff(self, attempt: int) -> float:
        """The delay before retry `attempt`: capped exponential, jittered."""
        cap = self._settings.worker_retry_backoff_max_s
        return float(min(cap, RETRY_BASE_S * 2.0 ** min(attempt, 20)) * random.uniform(0.5, 1.0))
