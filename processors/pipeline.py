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
The pipeline decides each event's `Outcome` (`processors.outcomes`) and tells its observers: the order's
timeline entry (`processors.timeline`, for the operator console, committed in the same transaction), the
event's span and, once committed, the metrics. The accounts' readers and halt flags are
`processors.account_readers`; the give-up rule of a failing batch is `processors.retry_budget`.
Nothing here knows Faust: the runtime supplies the writers, the OMS client and the acks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from bridge.events import InputEvent
from bridge.settings import Settings
from bridge.tracing import DISABLED, Tracing
from bridge.vtex.errors import OmsAuthError, OmsError, OmsUnavailable
from processors import dedup
from processors.account_readers import REASON_UNKNOWN_ACCOUNT, AccountReaders, OrderReader
from processors.failure_rule import FailureRule
from processors.lateness import assess, event_change
from processors.metrics import ProcessorMetrics
from processors.order_reads import OrderReads
from processors.outcomes import Decided, Outcome, OutcomeMetrics, Permanent, TimelineNotes, TraceOutcomes
from processors.pending import Waits
from processors.records import Outgoing, dead_letter, downstream
from processors.retry_budget import Failures, RetryBudget
from processors.routing import Router
from processors.timeline import BatchHistory, batch_op
from processors.topic_limits import FixedLimits, TopicLimits, record_size
from processors.tracing import BatchTrace
from processors.work import Work
from processors.writer import PartitionLost, PartitionWriter, RecordRejected, RetryBatch

__all__ = ["REASON_UNKNOWN_ACCOUNT", "OrderReader", "Pipeline"]

log = logging.getLogger(__name__)


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
        self.accounts = AccountReaders(
            settings,
            readers if readers is not None else {self.default_account: oms},
            self.default_account,
            metrics,
            rule=rule,
            monotonic=monotonic,
        )
        #: The default account's outage rule.
        self.rule = self.accounts.rule
        self._oms_urls = dict(oms_urls or {})
        self._monotonic = monotonic
        self._budget = RetryBudget(settings, monotonic)
        self._tracing = tracing
        self._router = router
        self._metrics = metrics
        self._counts = OutcomeMetrics(metrics)
        self._writer_for = writer_for
        self._clock = clock
        #: Set while some account's credentials work (the runtime stops pulling while it is clear).
        self.resumed = self.accounts.resumed
        #: What each order key's unfinished batch waits for (`processors.pending`: the operator's view).
        self.waits = Waits(clock)
        self._last_cause = ""
        self._reads = OrderReads(
            settings, self.accounts, metrics, waits=self.waits, budget=self._budget, retried=self._retried
        )

    @property
    def halted(self) -> bool:
        """Whether OMS refuses every account's credentials (consumption stops)."""
        return self.accounts.halted

    @property
    def halted_accounts(self) -> list[str]:
        return self.accounts.halted_accounts

    def account_label(self, account: str) -> str:
        """The metric label of an event's account: a configured one, else `_unknown` (bounded)."""
        return self.accounts.label(account)

    async def handle(self, key: str, batch: list[Work]) -> None:
        """Process `batch` (events of one order, in arrival order) until it is committed, then ack.

        `key`: the order's key (`bridge.accounts.order_key`), also the lane's.
        """
        if not self._tracing.enabled:
            await self._handle(key, batch, None)
            return
        settings = self._settings
        account = self.accounts.account_of(batch)
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
        account = self.accounts.account_of(batch)
        order_id = next((w.event.order_id for w in batch if w.event is not None), key)
        rule = self.accounts.rule_of(account)
        attempt = 0
        order: Mapping[str, Any] | None = None
        history = BatchHistory() if self._settings.worker_timeline_enabled else None
        failures = Failures()
        give_up: Permanent | None = None
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
                    give_up = Permanent("record-rejected", f"Kafka refused the record: {exc}")
                    continue
            except RetryBatch:
                self._retried("kafka", history)
            except OmsAuthError as exc:
                self.accounts.halt(account, exc)
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
                    give_up = self._budget.give_up(key, rule, failures)
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
            delay = self._budget.backoff(attempt)
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
        give_up: Permanent | None = None,
        account: str | None = None,
        order_id: str | None = None,
    ) -> Mapping[str, Any] | None:
        """Decide each event's outcome, fetch (once), build and commit the batch; return the order for a
        retry to reuse.

        `key`: the order's state key; `order_id`: its OrderId in `account` (default: the key's, the
        default account). `give_up`: the batch's retry budget is spent; its new events are
        dead-lettered with it.
        """
        account = account or self.default_account
        order_id = order_id or key
        now = self._clock()
        notes = TimelineNotes(now, history)
        decided = Decided([notes] if trace is None else [notes, TraceOutcomes(trace)])
        ttl = self._settings.worker_dedup_ttl_s
        memory = writer.state.get(key)
        emit: list[Work] = []
        records: list[Outgoing] = []
        batch_ids: set[str] = set()
        for work in batch:
            if work.event is None:
                records.append(
                    self._dead_letter(work, "invalid-event", work.invalid_reason or "invalid", trace)
                )
                decided(Outcome(work, "invalid", reason="invalid-event", record=len(records) - 1))
            elif (
                dedup.is_duplicate(memory, work.event.event_id, now, ttl) or work.event.event_id in batch_ids
            ):
                log.debug("duplicate dropped", extra=_ids(work.event))
                decided(Outcome(work, "duplicate"))
            else:
                batch_ids.add(work.event.event_id)
                emit.append(work)
        if emit:
            try:
                if give_up is not None:
                    raise give_up
                if order is None:
                    reader = self.accounts.reader(account)
                    spans = None if trace is None else trace.oms(order_id, emit)
                    order = await self._reads.fetch(reader, account, key, order_id, spans, history)
                for work in emit:
                    memory = await self._emit(work, order, account, memory, now, records, trace, decided)
            except Permanent as exc:
                for work in emit:
                    record = None
                    if not dedup.was_dead_lettered(memory, work.position, now, ttl):
                        records.append(self._dead_letter(work, exc.reason, str(exc), trace, exc.facts))
                        record = len(records) - 1
                        event_id = work.event.event_id if work.event is not None else None
                        memory = dedup.remember_dead(memory, work.position, now, event_id)
                    decided(Outcome(work, "dead_lettered", reason=exc.reason, detail=str(exc), record=record))
        state = [(key, memory)] if emit else []
        timeline = batch_op(key, notes.entries)
        if records or state or timeline:
            await writer.write(records, state, timeline)
        if give_up is not None or emit:
            self._budget.settled(key, gave_up=give_up is not None)
        self._counts.committed(decided.outcomes, records, batch, self.accounts.label(account))
        return order

    async def _emit(
        self,
        work: Work,
        order: Mapping[str, Any],
        account: str,
        memory: dedup.OrderMemory,
        now: float,
        records: list[Outgoing],
        trace: BatchTrace | None,
        decided: Decided,
    ) -> dedup.OrderMemory:
        """Build `work`'s downstream record (late or not, routed by its state) into `records`, or its
        dead letter when the topic cannot hold it; return the order's memory with it remembered."""
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
        record = downstream(event, order, route, lateness, memory.emitted + 1, trace_headers, follows)
        size, limit = record_size(record), await self._limits.limit(route.topic)
        if size > limit:
            reason = "record-too-large"
            index = None
            if not dedup.was_dead_lettered(memory, work.position, now, self._settings.worker_dedup_ttl_s):
                detail = f"the record of {size} bytes exceeds {route.topic}'s max.message.bytes ({limit})"
                facts = {"size": size, "limit": limit, "topic": route.topic}
                records.append(self._dead_letter(work, reason, detail, trace, facts))
                index = len(records) - 1
                memory = dedup.remember_dead(memory, work.position, now, event.event_id)
            decided(
                Outcome(work, "dead_lettered", reason=reason, detail=f"{size} bytes > {limit}", record=index)
            )
            return memory
        records.append(record)
        memory = dedup.remember(memory, event.event_id, now, event.state, change)
        decided(
            Outcome(
                work,
                "late" if lateness.late else "emitted",
                record=len(records) - 1,
                topic=route.topic,
                late=lateness.newer_state if lateness.late else None,
                seq=memory.emitted,
                follows=follows,
            )
        )
        return memory

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


def _ids(event: InputEvent | None) -> dict[str, str]:
    if event is None:
        return {}
    return {"order_id": event.order_id, "state": event.state, "event_id": event.event_id}
