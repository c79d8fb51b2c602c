"""The live terminal view of `vtex-bridge dev`: what flows through the bridge, refreshed every second.

It only reads what the services already publish (the ingress' and the worker's Prometheus metrics, the
simulator's `/_sim/stats`, Kafka offsets), so what the demo shows is what an SRE's dashboard would show.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from bridge.cli.dev.kafka_view import KafkaSnapshot
from bridge.cli.dev.scrape import Samples, by_label, total

INGRESS_REQUESTS: Final = "vtex_bridge_ingress_requests_total"
WORKER_EVENTS: Final = "vtex_bridge_processor_events_total"
WORKER_RECORDS: Final = "vtex_bridge_processor_records_written_total"
WORKER_LATE: Final = "vtex_bridge_processor_late_events_total"
WORKER_DEAD: Final = "vtex_bridge_processor_dead_letters_total"
WORKER_FETCHES: Final = "vtex_bridge_processor_order_fetches_total"
WORKER_LAG: Final = "vtex_bridge_processor_consumer_lag"
WORKER_HALTED: Final = "vtex_bridge_processor_halted"
OMS_REQUESTS: Final = "vtex_bridge_oms_requests_total"
FEED_PRODUCED: Final = "vtex_bridge_feed_poller_records_produced_total"
FEED_COMMITTED: Final = "vtex_bridge_feed_poller_items_committed_total"

REJECTED_OUTCOMES: Final = frozenset(
    {"unauthorized", "invalid_json", "schema_violation", "payload_too_large", "unsupported_media_type"}
)
UNAVAILABLE_OUTCOMES: Final = frozenset({"overloaded", "kafka_unavailable", "kafka_timeout", "kafka_failed"})


@dataclass
class Snapshot:
    """Everything one refresh shows."""

    at: float
    services: dict[str, bool]
    ingress: Samples | None
    workers: list[Samples | None]
    sim: dict[str, Any] | None
    kafka: KafkaSnapshot | None
    feed: Samples | None = None
    errors: list[str] = field(default_factory=list)

    def hooks_accepted(self) -> float:
        return total(self.ingress, INGRESS_REQUESTS, outcome="accepted")

    def events_emitted(self) -> float:
        return sum(total(w, WORKER_EVENTS, outcome="emitted") for w in self.workers)


def _rate(now: float, before: float, seconds: float) -> str:
    return f"{max(0.0, now - before) / seconds:,.1f}/s" if seconds > 0 else "-"


def _n(value: float | int | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def _workers_by_label(workers: Sequence[Samples | None], name: str, label: str) -> dict[str, float]:
    """Sum `name` over every worker, grouped by `label`."""
    summed: dict[str, float] = {}
    for worker in workers:
        for value_of_label, value in by_label(worker, name, label).items():
            summed[value_of_label] = summed.get(value_of_label, 0.0) + value
    return summed


def records_per_topic(
    offsets: dict[str, int], workers: Sequence[Samples | None], input_topic: str
) -> dict[str, float]:
    """Return records per topic: offsets for the input topic, what the workers committed for the others.

    The workers write the status and dead-letter topics transactionally, and each commit marker takes
    an offset of every partition it closes: at demo rates (one record per transaction) offsets counted
    twice the records. Their metric is read in the same scrape as the events they count.
    """
    written = _workers_by_label(workers, WORKER_RECORDS, "topic")
    return {
        topic: float(count) if topic == input_topic else written.get(topic, 0.0)
        for topic, count in offsets.items()
    }


def render(snap: Snapshot, previous: Snapshot | None, header: str, endpoints: list[str]) -> str:
    """Return the screen for `snap` (rates against `previous`)."""
    seconds = snap.at - previous.at if previous else 0.0
    lines = [header, ""]
    lines.append(
        "Services   "
        + "  ".join(f"{name} {'● up' if up else '✗ DOWN'}" for name, up in snap.services.items())
    )

    outcomes = by_label(snap.ingress, INGRESS_REQUESTS, "outcome")
    rejected = sum(v for k, v in outcomes.items() if k in REJECTED_OUTCOMES)
    unavailable = sum(v for k, v in outcomes.items() if k in UNAVAILABLE_OUTCOMES)
    accepted = snap.hooks_accepted()
    rate = _rate(accepted, previous.hooks_accepted(), seconds) if previous else "-"
    lines.append(
        f"Hooks      accepted {_n(accepted)} ({rate})  pings {_n(outcomes.get('ping', 0))}  "
        f"rejected {_n(rejected)}  503 {_n(unavailable)}"
    )
    if snap.sim is not None:
        sender = snap.sim.get("sender", snap.sim)
        lines.append(
            "VTEX sim   "
            + "  ".join(
                f"{key} {_n(sender.get(key))}"
                for key in ("sent", "accepted", "retried", "pending", "dropped")
                if key in sender
            )
        )

    if snap.feed is not None:
        lines.append(
            f"Feed v3    backup poller produced {_n(total(snap.feed, FEED_PRODUCED))}  "
            f"committed {_n(total(snap.feed, FEED_COMMITTED))}  (the processor de-dups them against hooks)"
        )

    events = _workers_by_label(snap.workers, WORKER_EVENTS, "outcome")
    emitted = snap.events_emitted()
    erate = _rate(emitted, previous.events_emitted(), seconds) if previous else "-"
    fetches = sum(total(w, WORKER_FETCHES) for w in snap.workers)
    late = sum(total(w, WORKER_LATE) for w in snap.workers)
    dead = sum(total(w, WORKER_DEAD) for w in snap.workers)
    halted = any(total(w, WORKER_HALTED) for w in snap.workers)
    oms = _workers_by_label(snap.workers, OMS_REQUESTS, "status")
    per_event = f"{fetches / emitted:.2f}" if emitted else "-"
    lines.append(
        f"Processor  enriched+emitted {_n(emitted)} ({erate})  duplicates {_n(events.get('duplicate', 0))}  "
        f"late {_n(late)}  dead-lettered {_n(dead)}  OMS fetches/event {per_event}"
        + ("  HALTED: OMS refuses our credentials" if halted else "")
    )
    if oms:
        lines.append("OMS        " + "  ".join(f"HTTP {k}: {_n(v)}" for k, v in sorted(oms.items())))

    if snap.kafka is not None:
        lag = snap.kafka.input_lag
        lines.append(f"Lag        {_n(lag)} records on the input topic (processor group)")
        counts = records_per_topic(snap.kafka.offsets_per_topic, snap.workers, snap.kafka.input_topic)
        filled = {t: c for t, c in counts.items() if c}
        empty = len(counts) - len(filled)
        lines.append(
            f"Topics     records per topic (the workers' topics: committed since they started; {empty} more"
            " topics are empty):"
        )
        for topic, count in filled.items():
            lines.append(f"           {topic:<52} {_n(count):>9}")
        if snap.kafka.recent_orders:
            lines.append(
                "Orders     newest: "
                + "  ".join(f"{o.order_id} ({o.state})" for o in snap.kafka.recent_orders[:3])
            )
            lines.append(
                "           look one up in the console below, or: VTEX_BRIDGE_CONSOLE_READ_TOKEN=<its token>"
                f" vtex-bridge order {snap.kafka.recent_orders[0].order_id}"
            )
    else:
        lines.append("Kafka      (not answering)")

    lines.append("")
    lines.append("Errors     " + ("none" if not snap.errors else ""))
    lines.extend(f"           {e[:150]}" for e in snap.errors[-5:])
    lines.append("")
    lines.extend(endpoints)
    lines.append("")
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


class ErrorTail:
    """Collect new error lines from the services' log files between refreshes."""

    def __init__(self) -> None:
        self._offsets: dict[str, int] = {}
        self.recent: list[str] = []

    def scan(self, name: str, text_since: str) -> None:
        for line in text_since.splitlines():
            if '"level":"error"' in line or '"level":"critical"' in line or "Traceback" in line:
                self.recent.append(f"{time.strftime('%H:%M:%S')} {name}: {_short(line)}")
        self.recent = self.recent[-20:]

    def skip_existing(self, name: str, path: Any) -> None:
        """Start reading `path` at its end: start-up noise (e.g. a new group's coordinator) is not news."""
        try:
            with open(path, "rb") as handle:  # noqa: PTH123
                self._offsets[name] = handle.seek(0, 2)
        except OSError:
            self._offsets[name] = 0

    def read_new(self, name: str, path: Any) -> None:
        try:
            with open(path, "rb") as handle:  # noqa: PTH123 - keeps the offset handling plain
                handle.seek(self._offsets.get(name, 0))
                data = handle.read()
                self._offsets[name] = handle.tell()
        except OSError:
            return
        self.scan(name, data.decode(errors="replace"))


def _short(line: str) -> str:
    """Return `logger: msg` of a JSON log line (the whole line when it is not JSON)."""
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if not isinstance(entry, dict):
        return line
    ids = " ".join(f"{k}={entry[k]}" for k in ("order_id", "state", "event_id") if k in entry)
    return f"{entry.get('logger', '')}: {entry.get('msg', '')} {ids}".strip()
