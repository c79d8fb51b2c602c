"""Logging filters that keep an outage from flooding the logs, installed on every process's handler.

During a broker outage the same line repeats thousands of times a minute: aiokafka's reconnect noise
(`Unable connect to node with id 1: ...`, per client, per retry) and the ingress's per-request refusal
(`hook refused: no Kafka producer`, per hook). `RepeatLimiter` lets the first occurrence of a line
through, then at most one per interval carrying how many it held back (`repeats_suppressed`), so the
log still says when a problem started, that it goes on, and how often.

A line is "the same" when its logger, level and message template (before `%` arguments and `extra=`
fields such as the order id) are: the per-request details differ, the problem does not.

`TransientDemoter` lowers the errors a Kafka client reports while a cluster settles (no group
coordinator yet, a partition's leader still being elected, e.g. while its topics are being created)
to INFO during the first minute of a process and to WARNING after: they retry by themselves, and an
ERROR should mean an operator has something to do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

#: Kafka error names that only say the cluster is settling; the client retries them.
TRANSIENT_MARKERS: Final = (
    "GroupCoordinatorNotAvailable",
    "CoordinatorNotAvailable",
    "NotCoordinatorForGroup",
    "NotCoordinator",
    "CoordinatorLoadInProgress",
    "NotLeaderForPartition",
    "NotLeaderOrFollower",
    "LeaderNotAvailable",
)
#: Loggers of the client libraries whose errors `TransientDemoter` looks at.
CLIENT_LOGGERS: Final = ("aiokafka", "kafka", "faust", "mode")
STARTUP_GRACE_S: Final = 60.0
MAX_KEYS: Final = 1024


class RepeatLimiter(logging.Filter):
    """Pass a WARNING-or-worse line once per `interval_s` per (logger, level, template), with a count."""

    def __init__(
        self, interval_s: float, *, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval_s
        self._max_keys = max_keys
        self._clock = clock
        #: key -> [time the last line passed, lines held back since]
        self._seen: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()  # Faust and aiokafka may log from other threads

    def filter(self, record: logging.LogRecord) -> bool:
        if self._interval <= 0 or record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self._interval:
                entry[1] += 1
                return False
            held_back = int(entry[1]) if entry is not None else 0
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)
        if held_back:
            record.repeats_suppressed = held_back
            record.repeat_interval_s = self._interval
        return True


class TransientDemoter(logging.Filter):
    """Lower a client library's error about a settling cluster to INFO (start-up) or WARNING (later)."""

    def __init__(
        self, *, grace_s: float = STARTUP_GRACE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._clock = clock
        self._until = clock() + grace_s

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(CLIENT_LOGGERS):
            return True
        if not _mentions_transient(record):
            return True
        level = logging.INFO if self._clock() < self._until else logging.WARNING
        if level < record.levelno:
            record.levelno, record.levelname = level, logging.getLevelName(level)
            record.transient = True
        return True


def _mentions_transient(record: logging.LogRecord) -> bool:
    text = record.getMessage()
    if record.exc_info and record.exc_info[0] is not None:
        text += record.exc_info[0].__name__
    return any(marker in text for marker in TRANSIENT_MARKERS)
