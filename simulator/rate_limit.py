"""A per-key token bucket answering "may this request go now, else how long to wait".

aiolimiter waits for capacity; an API server must answer at once (429 + Retry-After), so this small
synchronous bucket is used instead. Time is real time: throttling protects VTEX in wall-clock terms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allow `per_minute` requests per key, refilled continuously, bursting up to `per_minute`."""

    def __init__(self, per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._now = now
        self._buckets: dict[str, _Bucket] = {}

    def try_acquire(self, key: str) -> float:
        """Take one token for `key`; return 0.0 when allowed, else the seconds until a token is free."""
        if self.per_minute <= 0:
            return 0.0
        now = self._now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.per_minute), updated=now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate
