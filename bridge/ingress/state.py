"""What the ingress handlers share: the producer port, the authenticator, metrics and limits.

It lives under one typed `web.AppKey` of the application (never in module globals), so several apps
(tests, the benchmark's 200-only server) can run in one process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from aiohttp import web
from aiokafka.structs import RecordMetadata

from bridge.ingress.auth import Authenticator, HeaderCheck
from bridge.ingress.metrics import IngressMetrics
from bridge.kafka_producer import ProducerStats
from bridge.settings import Settings
from bridge.topics.resolver import InputTopicSource
from bridge.tracing import DISABLED, Tracing


class HookProducer(Protocol):
    """The producer the ingress needs; `bridge.kafka_producer.ResilientProducer` is the real one.

    `send` returns only once the broker acknowledged the record and raises
    `bridge.kafka_producer.ProduceError` otherwise.
    """

    async def start(self, *, require_connection: bool = False) -> None: ...
    async def stop(self, timeout: float | None = None) -> None: ...
    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        timeout: float,
    ) -> RecordMetadata: ...
    @property
    def connected(self) -> bool: ...
    def stats(self) -> ProducerStats: ...
    async def topic_exists(self, topic: str, timeout: float | None = None) -> bool: ...


#: How long a readiness answer about the input topic is reused (readyz is polled often).
READY_CACHE_S: Final = 2.0
#: Unauthorized requests logged per second at most; the rest are only counted (a flood must not flood logs).
AUTH_LOGS_PER_S: Final = 10
#: Configuration pings logged per second at most: an unauthenticated sender may ping as often as it likes.
PING_LOGS_PER_S: Final = 1


@dataclass(slots=True)
class LogThrottle:
    """Allow `per_s` log lines per wall-clock second; report how many were held back before."""

    per_s: int
    second: int = -1
    used: int = 0
    held_back: int = 0

    def allow(self, now: float) -> tuple[bool, int]:
        """Return whether to log now, and how many lines were held back since the last one logged."""
        second = int(now)
        if second != self.second:
            self.second, self.used = second, 0
        if self.used >= self.per_s:
            self.held_back += 1
            return False, 0
        self.used += 1
        held, self.held_back = self.held_back, 0
        return True, held


@dataclass(slots=True)
class IngressState:
    settings: Settings
    authenticator: Authenticator
    metrics: IngressMetrics
    producer: HookProducer
    in_flight: int = 0
    #: Hooks accepted by this process (the per-worker gauge; the outcome counter may be summed over workers).
    accepted: int = 0
    topic_checked_at: float = field(default=float("-inf"))
    topic_exists: bool = False
    #: Requests without a valid secret header being handled now (their own bound, apart from VTEX's).
    unauthenticated_in_flight: int = 0
    auth_log: LogThrottle = field(default_factory=lambda: LogThrottle(AUTH_LOGS_PER_S))
    ping_log: LogThrottle = field(default_factory=lambda: LogThrottle(PING_LOGS_PER_S))
    #: Spans of this app (`bridge.tracing`); `DISABLED` unless tracing is configured.
    tracing: Tracing = DISABLED
    #: Follows the input generation (`vtex-bridge topics reshard`); None = always `settings.input_topic`.
    input_topics: InputTopicSource | None = None

    @property
    def input_topic(self) -> str:
        """Return the topic hooks go to now: the current input generation's (an attribute read, no I/O)."""
        source = self.input_topics
        return self.settings.input_topic if source is None else source.produce_topic


STATE: Final = web.AppKey("ingress_state", IngressState)
_HEADER_CHECK: Final = web.RequestKey("ingress_header_check", HeaderCheck)


def header_check(request: web.Request) -> HeaderCheck:
    """Return which accounts the request's secret header matches, checked once per request.

    The tracing wrapper asks first (a caller's `traceparent` is trusted only when authenticated), then
    the handler; both get the same answer without comparing the secrets twice.
    """
    check = request.get(_HEADER_CHECK)
    if check is None:
        check = request.app[STATE].authenticator.check_header(request.headers)
        request[_HEADER_CHECK] = check
    return check
