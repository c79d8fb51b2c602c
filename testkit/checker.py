"""Nothing lost, nothing duplicated, nothing out of order: compare Kafka's output with what VTEX delivered.

The chaos suite (and the benchmarks) end every run with this check. Its inputs are

* the **expectation**, from the simulator (`GET /_sim/accepted` and `GET /_sim/deliveries`): every event
  whose hook got a 200 *must* appear downstream exactly once; an event that was sent but never got a 200
  *may* appear (at most once); anything else is unexpected. Scenarios with a lossless second path (the
  Feed v3 poller) add that path's events to the must-set;
* the **input topic**, read from the beginning: one partition per order, so each order's arrival order is
  the offset order (an event's position is its first arrival; later copies are duplicates the processor
  must drop);
* every **downstream topic** (status prefix) and the dead-letter topic, read from the beginning with
  `read_committed`, as a downstream consumer must.

Counts (all must be zero for a passing run): `lost` (must-events not downstream), `duplicated` (extra
copies of an event downstream), `out_of_order` (per order, a record emitted after one that arrived later
on the input topic), `unexpected` (downstream records of events nobody sent, whose ids do not match their
content, or on the wrong topic).

Emission order: a downstream record's place is its `order_sequence` (1, 2, 3… per order, committed with
the de-dup state in the processor's transaction), which is exact across topics. Records without one
(older processors) fall back to (`processed_at`, topic, partition, offset): exact within one topic
partition, resting on the processor's microsecond clock across topics. The chaos harness also routes every
known status to one topic so that the two orderings can be compared by offset.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from bridge.events import compute_event_id
from testkit.kafka import read_all

#: How many ids of each problem a result quotes (the counts are complete).
SAMPLE = 5
ADMIN_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One record of the input topic, reduced to what the ordering check needs."""

    partition: int
    offset: int
    event_id: str
    order_id: str
    source: str


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One downstream (or dead-letter) record as a read_committed consumer sees it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: Mapping[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.value.get("event_id"))

    @property
    def order_id(self) -> str:
        return str(self.value.get("order_id"))

    def emission_key(self) -> tuple[int, str, str, int, int]:
        sequence = self.value.get("order_sequence")
        return (
            sequence if isinstance(sequence, int) else 0,
            str(self.value.get("processed_at", "")),
            self.topic,
            self.partition,
            self.offset,
        )


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the source of events knows it delivered: `must` (event id -> payload) and `may`."""

    must: Mapping[str, Mapping[str, Any]]
    may: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_simulator(
        cls,
        accepted: Mapping[str, Any],
        deliveries: Sequence[Mapping[str, Any]],
        *,
        also_must: Iterable[str] = (),
    ) -> Expectation:
        """Build from `/_sim/accepted` and `/_sim/deliveries`; `also_must` promotes sent ids to must."""
        must: dict[str, Mapping[str, Any]] = {}
        for payload in accepted.get("payloads", []):
            must[_payload_id(payload)] = payload
        sent: dict[str, Mapping[str, Any]] = {}
        for record in deliveries:
            sent.setdefault(str(record["event_id"]), record["payload"])
        for event_id in also_must:
            if event_id in sent:
                must.setdefault(event_id, sent[event_id])
        may = {k: v for k, v in sent.items() if k not in must}
        return cls(must=must, may=may)


@dataclass
class CheckResult:
    """The verdict of one run; `ok` when lost, duplicated, out_of_order and unexpected are all zero."""

    scenario: str
    must_appear: int = 0
    may_appear: int = 0
    input_records: int = 0
    downstream_records: int = 0
    delivered: int = 0
    maybe_delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    dead_lettered: int = 0
    late: int = 0
    #: Input records per source (hook, feed, backfill) and events some source produced more than once.
    input_by_source: dict[str, int] = field(default_factory=dict)
    input_repeats_by_source: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.unexpected)

    def to_json(self) -> str:
        """Return the one-line JSON summary the suite prints per scenario."""
        data = asdict(self)
        data["ok"] = self.ok
        if not any(data["samples"].values()):
            data.pop("samples")
        return json.dumps(data, sort_keys=False, separators=(",", ":"))


def _payload_id(payload: Mapping[str, Any]) -> str:
    return compute_event_id(str(payload["OrderId"]), payload.get("State"), str(payload["LastChange"]))


def check(
    scenario: str,
    expectation: Expectation,
    inputs: Sequence[InputRecord],
    outputs: Sequence[OutputRecord],
    *,
    status_prefix: str,
    dead_letters: Sequence[OutputRecord] = (),
) -> CheckResult:
    """Compare downstream records with the expectation and the input arrival order; see module doc."""
    result = CheckResult(scenario, must_appear=len(expectation.must), may_appear=len(expectation.may))
    result.input_records = len(inputs)
    result.downstream_records = len(outputs)
    samples: dict[str, list[str]] = defaultdict(list)

    def note(kind: str, text: str) -> None:
        if len(samples[kind]) < SAMPLE:
            samples[kind].append(text)

    # Arrival position of each event: its first copy on the input topic.
    arrival: dict[str, tuple[int, int]] = {}
    for incoming in sorted(inputs, key=lambda r: (r.partition, r.offset)):
        arrival.setdefault(incoming.event_id, (incoming.partition, incoming.offset))

    result.input_by_source = dict(Counter(r.source for r in inputs))
    per_source = Counter((r.source, r.event_id) for r in inputs)
    result.input_repeats_by_source = dict(Counter(source for (source, _), n in per_source.items() if n > 1))

    copies = Counter(r.event_id for r in outputs)
    for record in outputs:
        reason = _unexpected_reason(record, expectation, status_prefix)
        if reason is not None:
            result.unexpected += 1
            note("unexpected", f"{record.event_id}@{record.topic}:{record.offset} {reason}")
        if record.value.get("late"):
            result.late += 1
    for event_id, count in copies.items():
        if count > 1:
            result.duplicated += count - 1
            note("duplicated", f"{event_id} x{count}")
    result.delivered = sum(1 for e in expectation.must if e in copies)
    result.maybe_delivered = sum(1 for e in expectation.may if e in copies)
    dead = {r.event_id for r in dead_letters}
    for event_id in expectation.must:
        if event_id not in copies:
            result.lost += 1
            if event_id in dead:
                where = "dead-lettered"
            elif event_id in arrival:
                where = "on input {}:{}".format(*arrival[event_id])
            else:
                where = "never reached the input topic"
            note("lost", f"{event_id} ({where})")
    result.dead_lettered = sum(1 for e in dead if e in expectation.must or e in expectation.may)

    result.out_of_order = _out_of_order(outputs, arrival, note)
    result.samples = {k: v for k, v in samples.items() if v}
    return result


def _unexpected_reason(record: OutputRecord, expectation: Expectation, prefix: str) -> str | None:
    value = record.value
    try:
        content_id = compute_event_id(str(value["order_id"]), value.get("state"), str(value["last_change"]))
    except KeyError as exc:
        return f"lacks {exc}"
    if content_id != record.event_id:
        return "event_id does not match order_id/state/last_change"
    if record.event_id not in expectation.must and record.event_id not in expectation.may:
        return "never sent"
    if record.topic != f"{prefix}{value.get('route')}":
        return f"route {value.get('route')!r} on topic {record.topic}"
    order = value.get("order")
    if not isinstance(order, Mapping) or str(order.get("orderId")) != record.order_id:
        return "order document of another order"
    return None


def _out_of_order(outputs: Sequence[OutputRecord], arrival: Mapping[str, tuple[int, int]], note: Any) -> int:
    """Count, per order, records emitted after a record whose event arrived later on the input topic."""
    by_order: dict[str, list[OutputRecord]] = defaultdict(list)
    for record in outputs:
        if record.event_id in arrival:
            by_order[record.order_id].append(record)
    count = 0
    for order_id, records in by_order.items():
        seen: set[str] = set()
        latest: tuple[int, int] | None = None
        latest_id = ""
        for record in sorted(records, key=OutputRecord.emission_key):
            if record.event_id in seen:
                continue  # a duplicate, counted as such
            seen.add(record.event_id)
            position = arrival[record.event_id]
            if latest is not None and position < latest:
                count += 1
                note("out_of_order", f"{order_id}: {record.event_id} emitted after {latest_id}")
            elif latest is None or position > latest:
                latest, latest_id = position, record.event_id
    return count


# --- reading Kafka -----------------------------------------------------------------------------------


async def topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), ADMIN_TIMEOUT_S)
    try:
        names = await asyncio.wait_for(admin.list_topics(), ADMIN_TIMEOUT_S)
    finally:
        await asyncio.wait_for(admin.close(), ADMIN_TIMEOUT_S)
    return sorted(n for n in names if n.startswith(prefix))


async def read_inputs(bootstrap: str, topic: str) -> list[InputRecord]:
    records = []
    for message in await read_all(bootstrap, topic, timeout=READ_TIMEOUT_S):
        value = orjson.loads(message.value)
        records.append(
            InputRecord(
                partition=message.partition,
                offset=message.offset,
                event_id=str(value["event_id"]),
                order_id=str(value["OrderId"]),
                source=str(value.get("source")),
            )
        )
    return records


async def read_outputs(bootstrap: str, *topics: str) -> list[OutputRecord]:
    """Read `topics` from the beginning with read_committed."""
    records = []
    for topic in topics:
        for message in await read_all(bootstrap, topic, timeout=READ_TIMEOUT_S):
            records.append(
                OutputRecord(
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    timestamp_ms=message.timestamp,
                    value=orjson.loads(message.value),
                )
            )
    return records


async def check_kafka(
    scenario: str,
    expectation: Expectation,
    *,
    bootstrap: str,
    input_topic: str,
    status_prefix: str,
    dead_letter_topic: str,
) -> CheckResult:
    """Read the input, every `status_prefix*` topic and the dead-letter topic, then `check`."""
    inputs = await read_inputs(bootstrap, input_topic)
    outputs = await read_outputs(bootstrap, *await topics_with_prefix(bootstrap, status_prefix))
    dead_letters = await read_outputs(bootstrap, dead_letter_topic)
    return check(
        scenario, expectation, inputs, outputs, status_prefix=status_prefix, dead_letters=dead_letters
    )
