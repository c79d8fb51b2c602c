"""What happens to a batch of input events of one order: de-dup, one OMS read, lateness, routing, write.

`Pipeline.handle(order_id, batch)` is the lane handler (see `processors.lanes`). It never raises for an
event's sake and never skips one silently: an outage (OMS or Kafka down for everyone) is retried with
capped exponential backoff for as long as it takes, which holds the lane, fills the pending bound and
stops the consumer (backpressure). Dead-lettered, with the reason: an order OMS still answers 404 for
after `worker_not_found_grace_s`, a non-order answer, an input record that breaks the contract, a record
larger than its topic accepts (`processors.topic_limits`, checked before producing), and an *isolated*
failure: an OMS read that failed `worker_event_retry_attempts` times over at least
`worker_event_retry_s` while OMS served other orders (`processors.failure_rule`). The order's later
events wait behind it in its lane and follow it; its next record names it (`follows_dead_letter`).
401/403 are our outage: the pipeline flags the account halted (metric, critical log), keeps retrying
slowly and dead-letters nothing; once every account is refused, consumption stops and readiness fails.

Several VTEX accounts: each event is enriched from its own account (`account` on the input record; a
record without one, from an older producer, belongs to the default account), through that account's
reader (`readers`: one OMS client, pool and budget per account). An event of an account this worker
does not know is dead-lettered at once (`unknown-account`), never read with another account's
credentials. The outage rule and the halt are kept per account, so one account's OMS outage neither
dead-letters its events as "isolated" (the other accounts' successes do not count) nor stops the
others. Lanes, de-dup state and timelines are keyed by `bridge.accounts.order_key` (the OrderId in
the default account, `account/OrderId` in any other: the same OrderId may exist in two accounts).

Acks happen only after the batch's transaction committed.
Each event's outcome also becomes one entry of its order's timeline (`processors.timeline`, for the
operator console), committed in the same transaction.
Nothing here knows Faust: the runtime supplies the writers, the OMS client and the acks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import Counter

from bridge.accounts import UNKNOWN_ACCOUNT_LABEL
from bridge.events import InputEvent
from bridge.settings import Settings
from bridge.timestamps import InvalidTimestamp, parse_timestamp
from bridge.tracing import DISABLED, Tracing
from bridge.vtex.errors import OmsAuthError, OmsBadResponse, OmsError, OmsUnavailable, OrderNotFound
from processors import dedup
from processors.failure_rule import FailureRule
from processors.lateness import assess, event_change
from processors.metrics import ProcessorMetrics
from processors.pending import Waits
from processors.records import Outgoing, dead_letter, downstream
from processors.routing import Router
from processors.timeline import BatchHistory, Entry, batch_op, note
from processors.topic_limits import FixedLimits, TopicLimits, record_size
from processors.tracing import BatchTrace, OmsSpans
from processors.writer import PartitionLost, PartitionWriter, RecordRejected, RetryBatch

log = logging.getLogger(__name__)

#: First retry delay of a failed batch; doubles up to `worker_retry_backoff_max_s`.
RETRY_BASE_S = 0.2
#: An order whose event was dead-lettered for an isolated failure is *suspect* for this many retry
#: budgets: its next batch gets one attempt instead of a whole budget (the same order usually fails the
#: same way, and its later events should not each hold the partition for a budget), unless it succeeds.
SUSPECT_BUDGETS = 5
#: Dead-letter reason of an event whose account this worker does not know.
REASON_UNKNOWN_ACCOUNT = "unknown-account"


class OrderReader(Protocol):
    async def get_order(self, order_id: str) -> Mapping[str, Any]: ...


@dataclass(slots=True)
class Work:
    """One input record in flight."""

    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    event: InputEvent | None
    invalid_reason: str | None
    ack: Callable[[], object]
    #: The input record's headers (read only when tracing is on: they carry the trace context).
    headers: Sequence[tuple[str, bytes]] | None = None

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


class _Permanent(Exception):
    def __init__(self, reason: str, detail: str, facts: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.facts = facts


class _Failures:
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


class Pipeline:
    """The per-order batch handler; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        oms: OrderReader,
        router: Router,
        metrics: ProcessorMetrics,
        writer_for: Callable[[int], PartitionWriter | None],
        clock: Callable[[], float] = time.time,
        tracing: Tracing = DISABLED,
        limits: TopicLimits | None = None,
        rule: FailureRule | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        readers: Mapping[str, OrderReader] | None = None,
        default_account: str | None = None,
        oms_urls: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._limits = limits if limits is not None else FixedLimits()
        #: The account of records without one; `readers` defaults to `oms` serving it alone.
        self.default_account = default_account or settings.vtex_account
        self._readers = dict(readers) if readers is not None else {self.default_account: oms}
        self._oms_urls = dict(oms_urls or {})
        self._monotonic = monotonic
        #: The outage rule of each account (an outage of one is no reason to dead-letter its events).
        self.rule = rule or self._new_rule()
        self._rules: dict[str, FailureRule] = {self.default_account: self.rule}
        #: Accounts whose credentials OMS refuses at the moment.
        self._halted: set[str] = set()
        #: order -> monotonic time its event was dead-lettered for an isolated failure (SUSPECT_BUDGETS).
        self._suspect: dict[str, float] = {}
        self._tracing = tracing
        self._router = router
        self._metrics = metrics
        self._writer_for = writer_for
        self._clock = clock
        self._children: dict[tuple[Counter, str], Counter] = {}
        self._account_children: dict[tuple[str, str], Counter] = {}
        self.resumed = asyncio.Event()
        self.resumed.set()
        #: What each order key's unfinished batch waits for (`processors.pending`: the operator's view).
        self.waits = Waits(clock)
        self._last_cause = ""

    @property
    def halted(self) -> bool:
        """Whether OMS refuses every account's credentials (consumption stops)."""
        return bool(self._halted) and self._halted >= set(self._readers)

    @property
    def halted_accounts(self) -> list[str]:
        return sorted(self._halted)

    def account_label(self, account: str) -> str:
        """The metric label of an event's account: a configured one, else `_unknown` (bounded)."""
        account = account or self.default_account
        return account if account in self._readers else UNKNOWN_ACCOUNT_LABEL

    def _new_rule(self) -> FailureRule:
        return FailureRule(
            window_s=self._settings.worker_outage_window_s,
            min_success_ratio=self._settings.worker_outage_min_success_ratio,
            clock=self._monotonic,
        )

    def _rule(self, account: str) -> FailureRule:
        rule = self._rules.get(account)
        if rule is None:
            rule = self._rules[account] = self._new_rule()
        return rule

    def _account_of(self, batch: list[Work]) -> str:
        """The account of a batch (one order of one account; invalid events: the default)."""
        for work in batch:
            if work.event is not None:
                return work.event.account or self.default_account
        return self.default_account

    async def handle(self, key: str, batch: list[Work]) -> None:
        """Process `batch` (events of one order, in arrival order) until it is committed, then ack.

        `key`: the order's key (`bridge.accounts.order_key`), also the lane's.
        """
        if not self._tracing.enabled:
            await self._handle(key, batch, None)
            return
        settings = self._settings
        account = self._account_of(batch)
        trace = BatchTrace(
            self._tracing,
            batch,
            topic=settings.input_topic,
            group=settings.worker_app_id,
            oms_url=self._oms_urls.get(account) or settings.vtex_url(),
        )
        acked = False
        try:
            acked = await self._handle(key, batch, trace)
        finally:
            trace.end(acked=acked)

    async def _handle(self, key: str, batch: list[Work], trace: BatchTrace | None) -> bool:
        partition = batch[0].partition
        account = self._account_of(batch)
        order_id = next((w.event.order_id for w in batch if w.event is not None), key)
        rule = self._rule(account)
        attempt = 0
        order: Mapping[str, Any] | None = None
        history = BatchHistory() if self._settings.worker_timeline_enabled else None
        failures = _Failures()
        give_up: _Permanent | None = None
        rejected = 0
        while True:
            writer = self._writer_for(partition)
            if writer is None:
                self.waits.done(key)
                return False  # revoked: leave unacked, the new owner reprocesses
            started = self._monotonic()  # a failure dates from its attempt's start (the rule's `since`)
            try:
                if writer.lost:  # fenced while still assigned here: the runtime is healing it
                    raise PartitionLost("writer is being reopened")
                order = await self._process(
                    writer, key, batch, order, trace, history, give_up, account, order_id
                )
                break
            except PartitionLost:
                self._retried("partition-lost", history)
            except RecordRejected as exc:
                # Kafka refused a record of this batch although its size looked fine (a limit changed
                # since it was read): read the limits again; refused again, dead-letter the batch.
                self._retried("record-rejected", history)
                self._limits.forget_all()
                rejected += 1
                if rejected >= 2:
                    give_up = _Permanent("record-rejected", f"Kafka refused the record: {exc}")
                    continue
            except RetryBatch:
                self._retried("kafka", history)
            except OmsAuthError as exc:
                self._halt(account, exc)
                self._retried("oms-auth", history)
                attempt = max(attempt, 8)  # retry slowly while the credentials are broken
            except OmsUnavailable as exc:
                self._retried("oms", history)
                log.warning(
                    "OMS read failed; retrying",
                    extra={"order_id": order_id, "account": account, "error": str(exc)},
                )
                if exc.status != 429:  # a 429 is the account's budget, never this order's fault
                    rule.failure(key)
                    failures.failed(str(exc), started)
                    give_up = self._give_up(key, rule, failures)
                    if give_up is not None:
                        continue  # dead-letter now: no backoff
            except OmsError as exc:
                self._retried("oms", history)
                log.warning(
                    "OMS read failed; retrying",
                    extra={"order_id": order_id, "account": account, "error": str(exc)},
                )
            except Exception:
                self._retried("bug", history)
                log.exception("processing failed; retrying", extra={"order_id": order_id})
            attempt += 1
            if history is not None:
                history.attempts += 1
            if trace is not None:
                trace.retry(attempt)
            delay = self._backoff(attempt)
            self.waits.retrying(key, self._last_cause, attempt, delay)  # set by _retried just above
            await asyncio.sleep(delay)
        self.waits.done(key)
        for work in batch:
            work.ack()
        return True

    async def _process(
        self,
        writer: PartitionWriter,
        key: str,
        batch: list[Work],
        order: Mapping[str, Any] | None,
        trace: BatchTrace | None = None,
        history: BatchHistory | None = None,
        give_up: _Permanent | None = None,
        account: str | None = None,
        order_id: str | None = None,
    ) -> Mapping[str, Any] | None:
        """Decide, fetch (once), build and commit the batch; return the order for a retry to reuse.

        `key`: the order's state key; `order_id`: its OrderId in `account` (default: the key's, the
        default account). `give_up`: the batch's retry budget is spent; its new events are
        dead-lettered with it.
        """
        account = account or self.default_account
        order_id = order_id or key
        now = self._clock()
        entries: list[Entry] | None = None if history is None else []  # the batch's timeline entries
        ttl = self._settings.worker_dedup_ttl_s
        memory = writer.state.get(key)
        emit: list[Work] = []
        records: list[Outgoing] = []
        batch_ids: set[str] = set()
        outcomes: list[str] = []
        for work in batch:
            if work.event is None:
                records.append(
                    self._dead_letter(work, "invalid-event", work.invalid_reason or "invalid", trace)
                )
                outcomes.append("invalid")
                note(entries, now, work, "invalid", history, len(records) - 1, why="invalid-event")
                if trace is not None:
                    trace.outcome(work, "dead_lettered", dead_letter_reason="invalid-event")
            elif (
                dedup.is_duplicate(memory, work.event.event_id, now, ttl) or work.event.event_id in batch_ids
            ):
                outcomes.append("duplicate")
                note(entries, now, work, "duplicate", history)
                log.debug("duplicate dropped", extra=_ids(work.event))
                if trace is not None:
                    trace.outcome(work, "duplicate")
            else:
                batch_ids.add(work.event.event_id)
                emit.append(work)
        if emit:
            try:
                if give_up is not None:
                    raise give_up
                if order is None:
                    reader = self._readers.get(account)
                    if reader is None:
                        raise _Permanent(
                            REASON_UNKNOWN_ACCOUNT,
                            f"account {account!r} is not configured in this worker (configured: "
                            f"{', '.join(sorted(self._readers))}); not read with another account's "
                            "credentials",
                            {"account": account},
                        )
                    spans = None if trace is None else trace.oms(order_id, emit)
                    order = await self._fetch(reader, account, key, order_id, spans, history)
                for work in emit:
                    event = work.event
                    assert event is not None
                    if not event.account:  # an older producer's record: the default account's
                        event = dataclasses.replace(event, account=account)
                    change = event_change(event)
                    lateness = assess(change, memory.newest_state, memory.newest_change)
                    route = self._router.route(event.state, account)
                    if not route.known:
                        self._metrics.unknown_route.inc()
                        log.warning("unknown state routed to %s", route.topic, extra=_ids(event))
                    trace_headers = () if trace is None else trace.headers(work)
                    follows = memory.skipped
                    record = downstream(
                        event, order, route, lateness, memory.emitted + 1, trace_headers, follows
                    )
                    size, limit = record_size(record), await self._limits.limit(route.topic)
                    if size > limit:
                        memory = self._too_large(work, route.topic, size, limit, memory, now, records, trace)
                        outcomes.append("dead_lettered:record-too-large")
                        note(
                            entries,
                            now,
                            work,
                            "dead_lettered",
                            history,
                            len(records) - 1,
                            why="record-too-large",
                            msg=f"{size} bytes > {limit}",
                        )
                        continue
                    records.append(record)
                    memory = dedup.remember(memory, event.event_id, now, event.state, change)
                    outcomes.append("late" if lateness.late else "emitted")
                    late = lateness.newer_state if lateness.late else None
                    note(
                        entries,
                        now,
                        work,
                        outcomes[-1],
                        history,
                        len(records) - 1,
                        late=late,
                        seq=memory.emitted,
                        **({} if follows is None else {"follows": follows}),
                    )
                    if trace is not None:
                        trace.outcome(work, outcomes[-1], downstream_topic=route.topic)
            except _Permanent as exc:
                for work in emit:
                    if not dedup.was_dead_lettered(memory, work.position, now, ttl):
                        records.append(self._dead_letter(work, exc.reason, str(exc), trace, exc.facts))
                        event_id = work.event.event_id if work.event is not None else None
                        memory = dedup.remember_dead(memory, work.position, now, event_id)
                        note(
                            entries,
                            now,
                            work,
                            "dead_lettered",
                            history,
                            len(records) - 1,
                            why=exc.reason,
                            msg=str(exc),
                        )
                    outcomes.append("dead_lettered:" + exc.reason)
                    if trace is not None:
                        trace.outcome(work, "dead_lettered", dead_letter_reason=exc.reason)
        state = [(key, memory)] if emit else []
        timeline = batch_op(key, entries)
        if records or state or timeline:
            await writer.write(records, state, timeline)
            for record in records:
                self._counter(self._metrics.records_written, record.topic).inc()
        if give_up is not None:
            self._suspect[key] = self._monotonic()
        elif emit:
            self._suspect.pop(key, None)
        self._count(outcomes, batch, self.account_label(account))
        return order

    def _too_large(
        self,
        work: Work,
        topic: str,
        size: int,
        limit: int,
        memory: dedup.OrderMemory,
        now: float,
        records: list[Outgoing],
        trace: BatchTrace | None,
    ) -> dedup.OrderMemory:
        """Dead-letter `work`, whose record `topic` cannot hold (the dead letter carries no document)."""
        event = work.event
        assert event is not None
        if dedup.was_dead_lettered(memory, work.position, now, self._settings.worker_dedup_ttl_s):
            return memory
        detail = f"the record of {size} bytes exceeds {topic}'s max.message.bytes ({limit})"
        facts = {"size": size, "limit": limit, "topic": topic}
        records.append(self._dead_letter(work, "record-too-large", detail, trace, facts))
        if trace is not None:
            trace.outcome(work, "dead_lettered", dead_letter_reason="record-too-large")
        return dedup.remember_dead(memory, work.position, now, event.event_id)

    def _give_up(self, key: str, rule: FailureRule, failures: _Failures) -> _Permanent | None:
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
        return _Permanent("oms-unavailable", detail, facts)

    async def _fetch(
        self,
        reader: OrderReader,
        account: str,
        key: str,
        order_id: str,
        spans: OmsSpans | None = None,
        history: BatchHistory | None = None,
    ) -> Mapping[str, Any]:
        """Read the order from its account; 404 is retried within the grace period; other permanent
        errors raise."""
        first = time.monotonic()
        attempt = 0
        while True:
            called = time.monotonic()
            try:
                if spans is None:
                    order = await reader.get_order(order_id)
                else:
                    order = await spans.call(reader.get_order)
            except OrderNotFound as exc:
                if time.monotonic() - first >= self._settings.worker_not_found_grace_s:
                    raise _Permanent("order-not-found", str(exc)) from exc
                self._retried("oms-404", history)
                attempt += 1
                self.waits.not_found(key, self._settings.worker_not_found_grace_s, attempt)
                await asyncio.sleep(self._backoff(attempt))
                continue
            except OmsBadResponse as exc:
                raise _Permanent("oms-bad-response", str(exc)) from exc
            self._metrics.oms_fetches.inc()
            self._rule(account).success(key)
            self._resume(account)
            if history is not None:
                history.oms_ms = round((time.monotonic() - called) * 1000.0, 1)
                history.oms_status = str(order.get("status"))
            return order

    def _retried(self, cause: str, history: BatchHistory | None) -> None:
        """Count a retry of the batch (metric; and on the batch's timeline entries)."""
        self._last_cause = cause
        self._metrics.retries.labels(cause).inc()
        if history is not None:
            history.retried(cause)

    def _dead_letter(
        self,
        work: Work,
        reason: str,
        detail: str,
        trace: BatchTrace | None = None,
        facts: dict[str, Any] | None = None,
    ) -> Outgoing:
        extra = _ids(work.event) if work.event else {}
        log.error(
            "dead-lettering event: %s", reason, extra={**extra, "detail": detail, "position": work.position}
        )
        self._metrics.dead_letters.labels(reason).inc()
        return dead_letter(
            topic=self._settings.dead_letter_topic,
            input_topic=self._settings.input_topic,
            partition=work.partition,
            offset=work.offset,
            key=work.key,
            raw=work.raw,
            reason=reason,
            detail=detail,
            event=work.event,
            trace_headers=() if trace is None else trace.headers(work),
            facts=facts,
        )

    def _count(self, outcomes: list[str], batch: list[Work], account: str) -> None:
        for outcome in outcomes:
            if outcome == "late":
                self._metrics.late.inc()
                outcome = "emitted"
            outcome = outcome.split(":")[0]
            self._counter(self._metrics.events, outcome).inc()
            child = self._account_children.get((account, outcome))
            if child is None:
                child = self._metrics.account_events.labels(account, outcome)
                self._account_children[(account, outcome)] = child
            child.inc()
        for work in batch:
            if work.event is not None and work.event.received_at:
                self._observe_e2e(work.event.received_at)

    def _counter(self, family: Counter, label: str) -> Counter:
        """`family.labels(label)`, kept: prometheus_client validates and locks on every `labels` call,
        which is per event here (docs/performance.md)."""
        child = self._children.get((family, label))
        if child is None:
            child = self._children[(family, label)] = family.labels(label)
        return child

    def _observe_e2e(self, received_at: str) -> None:
        received = _epoch_seconds(received_at)
        if received is not None:
            self._metrics.e2e_seconds.observe(max(0.0, time.time() - received))

    def _halt(self, account: str, exc: Exception) -> None:
        if account not in self._halted:
            log.critical(
                "OMS refuses our credentials for an account; its events wait until they work again "
                "(nothing is dead-lettered for this; consumption stops once every account is refused)",
                extra={"account": account, "error": str(exc)},
            )
        self._halted.add(account)
        self._metrics.account_halted.labels(account).set(1)
        self._metrics.halted.set(1)
        if self.halted:
            self.resumed.clear()

    def _resume(self, account: str) -> None:
        if account in self._halted:
            log.warning("OMS accepts our credentials again", extra={"account": account})
            self._halted.discard(account)
            self._metrics.account_halted.labels(account).set(0)
        if not self._halted:
            self._metrics.halted.set(0)
        self.resumed.set()

    def _backoff(self, attempt: int) -> float:
        cap = self._settings.worker_retry_backoff_max_s
        return float(min(cap, RETRY_BASE_S * 2.0 ** min(attempt, 20)) * random.uniform(0.5, 1.0))


def _epoch_seconds(received_at: str) -> float | None:
    """The ingress writes UTC ISO 8601 (bridge.events.utc_now_iso), which fromisoformat reads at a
    fraction of parse_timestamp's cost (per event); anything else goes the long way."""
    try:
        moment = datetime.fromisoformat(received_at)
        if moment.tzinfo is not None:
            return moment.timestamp()
    except ValueError:
        pass
    try:
        return parse_timestamp(received_at).timestamp()
    except InvalidTimestamp:
        return None


def _ids(event: InputEvent | None) -> dict[str, str]:
    if event is None:
        return {}
    return {"order_id": event.order_id, "state": event.state, "event_id": event.event_id}
