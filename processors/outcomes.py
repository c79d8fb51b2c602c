"""What became of each input event of a batch, and the observers that react to it.

The pipeline (`processors.pipeline`) decides an `Outcome` per event (emitted, late, duplicate, invalid,
dead-lettered with its reason) and hands it to its observers; it no longer writes timeline notes, span
attributes or metric counts in between its decisions. Each observer owns one concern:

- `TimelineNotes`: the event's entry on its order's timeline (`processors.timeline`), committed in the
  batch's transaction, so it is told of each outcome as it is decided;
- `TraceOutcomes`: the `bridge.outcome` attribute of the event's span (`processors.tracing`);
- `OutcomeMetrics`: the per-outcome and per-account counters, the records written and the end-to-end
  latency, counted once the batch's transaction committed (a retried batch is counted once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import Counter

from bridge.timestamps import InvalidTimestamp, parse_timestamp
from processors.metrics import ProcessorMetrics
from processors.records import Outgoing
from processors.timeline import BatchHistory, Entry, note
from processors.tracing import BatchTrace
from processors.work_view import WorkView

log = logging.getLogger(__name__)


class Permanent(Exception):
    """A failure no retry cures: the events it concerns are dead-lettered with `reason`."""

    def __init__(self, reason: str, detail: str, facts: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.facts = facts


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one event of a batch.

    `kind`: invalid, duplicate, emitted, late or dead_lettered. `record`: the index of the record it
    produced in the batch's records (None: it produced none, e.g. a duplicate, or a dead letter already
    written before a crash). `topic`: the downstream topic of an emitted event.
    """

    work: WorkView
    kind: str
    reason: str | None = None
    detail: str | None = None
    record: int | None = None
    topic: str | None = None
    late: str | None = None
    seq: int | None = None
    follows: Any = None

    @property
    def label(self) -> str:
        """The outcome as the batch's count knows it (`dead_lettered:<reason>`, `late`, ...)."""
        return f"dead_lettered:{self.reason}" if self.kind == "dead_lettered" else self.kind


class Observer(Protocol):
    def decided(self, outcome: Outcome) -> None:
        """React to one event's outcome, as soon as the pipeline decided it."""


class Decided:
    """The outcomes of one attempt at a batch, and the observers told of each as it is decided."""

    __slots__ = ("_observers", "outcomes")

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.outcomes: list[Outcome] = []
        self._observers = observers

    def __call__(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        for observer in self._observers:
            observer.decided(outcome)


class TimelineNotes:
    """Collect the batch's timeline entries (`processors.timeline.note`), one per outcome."""

    __slots__ = ("_history", "_now", "entries")

    def __init__(self, now: float, history: BatchHistory | None) -> None:
        #: None when timelines are off (then nothing is collected).
        self.entries: list[Entry] | None = None if history is None else []
        self._history = history
        self._now = now

    def decided(self, outcome: Outcome) -> None:
        entries, now, work, history, kind = self.entries, self._now, outcome.work, self._history, outcome.kind
        if kind == "duplicate":
            note(entries, now, work, kind, history)
        elif kind == "invalid":
            note(entries, now, work, kind, history, outcome.record, why=outcome.reason)
        elif kind == "dead_lettered":
            if outcome.record is not None:  # a dead letter written before (replayed batch) gets no entry
                note(
                    entries, now, work, kind, history, outcome.record, why=outcome.reason, msg=outcome.detail
                )
        else:
            extra = {} if outcome.follows is None else {"follows": outcome.follows}
            note(
                entries, now, work, kind, history, outcome.record, late=outcome.late, seq=outcome.seq, **extra
            )


class TraceOutcomes:
    """Name each event's outcome on its span (the last one of a retried batch wins)."""

    __slots__ = ("_trace",)

    def __init__(self, trace: BatchTrace) -> None:
        self._trace = trace

    def decided(self, outcome: Outcome) -> None:
        work, kind = outcome.work, outcome.kind
        if kind == "invalid":
            self._trace.outcome(work, "dead_lettered", dead_letter_reason=outcome.reason or "invalid-event")
        elif kind == "dead_lettered":
            self._trace.outcome(work, kind, dead_letter_reason=outcome.reason or "")
        elif kind == "duplicate":
            self._trace.outcome(work, kind)
        else:
            self._trace.outcome(work, kind, downstream_topic=outcome.topic or "")


class OutcomeMetrics:
    """Count committed batches: events per outcome and account, records per topic, end-to-end latency.

    Label children are kept: prometheus_client validates and locks on every `labels` call, which is
    per event here (docs/performance.md).
    """

    def __init__(self, metrics: ProcessorMetrics) -> None:
        self._metrics = metrics
        self._children: dict[tuple[Counter, str], Counter] = {}
        self._account_children: dict[tuple[str, str], Counter] = {}

    def committed(
        self,
        outcomes: Sequence[Outcome],
        records: Sequence[Outgoing],
        batch: Sequence[WorkView],
        account: str,
    ) -> None:
        """Count a batch whose transaction committed; `account`: its metric label."""
        for record in records:
            self.counter(self._metrics.records_written, record.topic).inc()
        for outcome in outcomes:
            kind = outcome.kind
            if kind == "late":
                self._metrics.late.inc()
                kind = "emitted"
            self.counter(self._metrics.events, kind).inc()
            child = self._account_children.get((account, kind))
            if child is None:
                child = self._account_children[(account, kind)] = self._metrics.account_events.labels(
                    account, kind
                )
            child.inc()
        for work in batch:
            if work.event is not None and work.event.received_at:
                received = epoch_seconds(work.event.received_at)
                if received is not None:
                    self._metrics.e2e_seconds.observe(max(0.0, time.time() - received))

    def counter(self, family: Counter, label: str) -> Counter:
        """`family.labels(label)`, kept."""
        child = self._children.get((family, label))
        if child is None:
            child = self._children[(family, label)] = family.labels(label)
        return child


def epoch_seconds(received_at: str) -> float | None:
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
