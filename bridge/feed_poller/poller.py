"""The poll loop: read a lot, produce every record, wait for every ack, then (and only then) commit.

Order of operations per lot is what makes the poller lossless:

1. read at most `maxlot` (<= 10) items; VTEX hides them for the visibility timeout;
2. produce one input record per item (keyed by OrderId, records of one order in feed order) and wait
   for Kafka's acknowledgement of *every* record;
3. commit the lot's handles.

A failure or crash before 3 commits nothing: the items reappear after the visibility timeout and are
produced again with the same `event_id`, which the processor's de-dup absorbs. A failure of 3 has the
same outcome. An item that can never become an event (no OrderId, no LastChange, breaks the hook schema)
goes to the dead-letter topic, and is committed once that record is acknowledged, so it cannot block
the queue forever.

VTEX is protected by a rate limit on every call and by exponential backoff with jitter on 429 (honouring
Retry-After), 5xx and transport failures; Kafka trouble backs off the same way.

Pace: one lot at a time while lots come back partial; while they come back full (a backlog), one more
lot in flight per full lot, up to `max_concurrency`, and half as many after a partial one. Concurrent
reads are safe on Feed v3: a read hides its items from every other read for the visibility timeout, so
two lots never share an item. The budget (`rate_per_s`, every read, commit and backlog read) bounds the
calls whatever the concurrency. Records of one order keep their read order across concurrent lots (a
lot waits for the previous lot's record of the same order to be acknowledged). The backlog (`quantity`
and the age of the oldest message, from the feed configuration) is read every `backlog_interval_s` and
exported as metrics.

Accounts: one `FeedPoller` polls one account's feed with that account's appKey/appToken and stamps
its name on every record (`account`, as the ingress does); `bridge.feed_poller.service` runs one per
configured account, their lots bounded together by a shared semaphore (`lots`), so one account's
backlog, throttling or outage (its own back-off and visibility timeout) never holds another's.

This module is the loop (pace, back-off, backlog, commit); what an item becomes is
`bridge.feed_poller.records`, and the per-order ordered send of a lot `bridge.feed_poller.lot_sender`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiolimiter import AsyncLimiter

from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.lot_sender import LotSender, RecordSink
from bridge.feed_poller.metrics import AccountPollerMetrics, PollerMetrics
from bridge.feed_poller.records import feed_record
from bridge.kafka_producer import ProduceError, ProducerUnavailable
from bridge.topics.resolver import InputTopicSource
from bridge.tracing import DISABLED, Tracing
from bridge.vtex.config_models import (
    MAX_LOT,
    ConfigApiError,
    FeedItem,
    VtexAuthError,
    VtexNotFound,
    VtexRateLimited,
    VtexUnavailable,
)

log = logging.getLogger(__name__)


class FeedSource(Protocol):
    """The Feed v3 read/commit half of `ConfigApiClient`; tests may substitute another."""

    async def read_feed(self, maxlot: int = MAX_LOT) -> list[FeedItem]: ...

    async def commit_feed(self, handles: Sequence[str]) -> None: ...


#: Called with a lot after every record was acknowledged and before its commit (tests inject crashes).
BeforeCommit = Callable[[Sequence[FeedItem]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LotResult:
    """What one poll did."""

    read: int
    produced: int
    dead_lettered: int
    committed: int


class FeedPoller:
    """Move Feed v3 items to the input topic, committing each lot only after Kafka acknowledged it."""

    def __init__(
        self,
        source: FeedSource,
        sink: RecordSink,
        config: PollerConfig,
        metrics: PollerMetrics | AccountPollerMetrics | None = None,
        *,
        before_commit: BeforeCommit | None = None,
        tracing: Tracing = DISABLED,
        input_topics: InputTopicSource | None = None,
        lots: asyncio.Semaphore | None = None,
    ) -> None:
        self._source = source
        #: Follows the input generation (`vtex-bridge topics reshard`); None = always `config.input_topic`.
        self._input_topics = input_topics
        self._sink = sink
        self._config = config
        families = metrics if metrics is not None else PollerMetrics()
        self.metrics = families.account(config.account) if isinstance(families, PollerMetrics) else families
        #: Shared by the pollers of every account: bounds their lots in flight together.
        self._lots = lots
        self._before_commit = before_commit
        self._limiter = AsyncLimiter(max(config.rate_per_s, 0.001), 1.0)
        self._failures = 0
        self.last_success: float | None = None  # monotonic time of the last successful read
        self.last_error: str | None = None
        #: Lots the loop keeps in flight now (1 .. config.max_concurrency), and the most it ever kept.
        self.lanes = 1
        self.max_lanes_used = 1
        self._sender = LotSender(sink, tracing, config.produce_timeout_s, self.metrics)

    # --- one lot --------------------------------------------------------------------------------------

    @property
    def account(self) -> str:
        return self._config.account

    async def poll_once(self) -> LotResult:
        """Read one lot, produce it, await every ack, commit it; raise on any failure (nothing committed)."""
        if self._lots is None:
            return await self._poll_lot()
        async with self._lots:
            return await self._poll_lot()

    async def _poll_lot(self) -> LotResult:
        if not getattr(self._sink, "connected", True):
            # Reading now would only hide the items for the visibility timeout: wait for Kafka instead.
            raise ProducerUnavailable("no connected Kafka producer; the feed is not read meanwhile")
        async with self._limiter:
            items = await self._source.read_feed(self._config.maxlot)
        self.last_success = time.monotonic()
        self.metrics.last_success.set(time.time())
        self.metrics.last_batch_size.set(len(items))
        self.metrics.items_read.inc(len(items))
        if not items:
            return LotResult(0, 0, 0, 0)
        config = self._config
        topic = config.input_topic if self._input_topics is None else self._input_topics.produce_topic
        records = [feed_record(item, config, topic) for item in items]
        await self._sender.send_all(records)
        dead = sum(1 for r in records if r.event_id is None)
        if self._before_commit is not None:
            await self._before_commit(items)
        handles = [item.handle for item in items if item.handle]
        async with self._limiter:
            await self._source.commit_feed(handles)
        self.metrics.items_committed.inc(len(handles))
        log.info(
            "feed lot moved to kafka",
            extra={
                "account": self._config.account,
                "read": len(items),
                "dead_lettered": dead,
                "committed": len(handles),
            },
        )
        return LotResult(len(items), len(records) - dead, dead, len(handles))

    # --- the loop -------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, with as many lots in flight as the backlog calls for (module doc);
        back off on VTEX and Kafka trouble; let anything else crash."""
        backlog = None
        if self._config.backlog_interval_s > 0 and hasattr(self._source, "get_feed_config"):
            backlog = asyncio.create_task(self._watch_backlog(stop), name="feed-backlog")
        in_flight: set[asyncio.Task[LotResult]] = set()
        try:
            while not stop.is_set():
                while len(in_flight) < self.lanes:
                    in_flight.add(asyncio.create_task(self.poll_once(), name="feed-lot"))
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                if in_flight and any(t.exception() is not None for t in done):
                    # Let the other lots end (each commits only what Kafka acknowledged), then back off.
                    more, in_flight = await asyncio.wait(in_flight)
                    done |= more
                failure = next((e for t in done if (e := t.exception()) is not None), None)
                if failure is not None:
                    self._set_lanes(1)
                    await self._handle_failure(stop, failure)
                    continue
                self._failures = 0
                self.last_error = None
                partial = any(t.result().read < self._config.maxlot for t in done)
                self._set_lanes(max(1, self.lanes // 2) if partial else self.lanes + 1)
                if partial and not in_flight:
                    await _wait(stop, self._config.idle_s)
        except asyncio.CancelledError:
            for task in in_flight:  # cancelled: abandon the lots under way (nothing of theirs commits)
                task.cancel()
            raise
        finally:
            if in_flight:  # stopped: the lots under way finish first; cancelled: they end at once
                await asyncio.wait(in_flight)
                for task in in_flight:
                    if not task.cancelled():
                        task.exception()  # retrieved: the loop is ending anyway
            if backlog is not None:
                backlog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await backlog

    def _set_lanes(self, lanes: int) -> None:
        self.lanes = min(max(1, lanes), self._config.max_concurrency)
        self.max_lanes_used = max(self.max_lanes_used, self.lanes)
        self.metrics.lanes.set(self.lanes)

    async def _handle_failure(self, stop: asyncio.Event, exc: BaseException) -> None:
        """Back off after a failed lot according to its cause; re-raise anything unexpected."""
        if isinstance(exc, VtexRateLimited):
            await self._back_off(stop, "rate_limited", exc, exc.retry_after)
        elif isinstance(exc, (VtexNotFound, VtexAuthError)):
            # Not transient, but an operator can fix it without restarting us: wait the longest.
            log.error("feed poll refused for account %s: %s; %s", self._config.account, exc, exc.hint)
            cause = "not_found" if isinstance(exc, VtexNotFound) else "auth"
            await self._back_off(stop, cause, exc, self._config.backoff_max_s)
        elif isinstance(exc, VtexUnavailable):
            await self._back_off(stop, "vtex_unavailable", exc)
        elif isinstance(exc, ConfigApiError):  # e.g. a 400: log it loudly, keep trying slowly
            log.error("feed poll refused for account %s: %s; %s", self._config.account, exc, exc.hint)
            await self._back_off(stop, "vtex_error", exc)
        elif isinstance(exc, ProduceError):
            await self._back_off(stop, "kafka", exc)
        else:
            raise exc

    async def _watch_backlog(self, stop: asyncio.Event) -> None:
        """Export the feed's backlog (messages, age of the oldest) every `backlog_interval_s`."""
        read_config = getattr(self._source, "get_feed_config")  # noqa: B009 - optional on a FeedSource
        while not stop.is_set():
            try:
                async with self._limiter:
                    config = await read_config()
            except (ConfigApiError, VtexUnavailable) as exc:
                # The read loop reports VTEX trouble (and backs off); here it only leaves a gap.
                self.metrics.errors.labels(cause="backlog_read").inc()
                log.debug(
                    "feed backlog read failed", extra={"account": self._config.account, "error": str(exc)}
                )
            else:
                if isinstance(config, dict):
                    self.metrics.backlog_items.set(float(config.get("quantity") or 0))
                    age = config.get("approximateAgeOfOldestMessageInSeconds")
                    self.metrics.backlog_age_seconds.set(float(age or 0.0))
            await _wait(stop, self._config.backlog_interval_s)

    async def _back_off(
        self, stop: asyncio.Event, cause: str, exc: Exception, at_least: float | None = None
    ) -> None:
        """Wait an exponentially growing, jittered delay, and at least `at_least` (e.g. Retry-After)."""
        self._failures += 1
        self.last_error = f"{cause}: {exc}"
        self.metrics.errors.labels(cause=cause).inc()
        ceiling = min(
            self._config.backoff_max_s, self._config.backoff_initial_s * 2 ** min(self._failures - 1, 16)
        )
        delay = random.uniform(ceiling / 2, ceiling)
        if at_least is not None:
            delay = max(delay, at_least)
        log.warning(
            "feed poll failed; backing off",
            extra={"account": self._config.account, "cause": cause, "error": str(exc), "delay_s": delay},
        )
        self.metrics.backoff_seconds.inc(delay)
        await _wait(stop, delay)

    def healthy(self, stale_after_s: float) -> bool:
        """Tell whether a read succeeded within `stale_after_s`."""
        last = self.last_success
        return last is not None and time.monotonic() - last <= stale_after_s


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` unless `stop` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
