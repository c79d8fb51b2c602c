"""Per-order timeline: one compact entry per outcome of each input event, as pure functions.

The operator console answers "what happened to order X?" from this record. The pipeline builds one
`Entry` per input event it decides about (emitted, late, duplicate, dead-lettered, invalid) and hands it
to the partition's writer with the batch; the writer fills in where the downstream or dead-letter record
landed (topic, partition, offset) once the broker acknowledged it, and commits the new timeline in the
same transaction as the records and the de-dup state (`processors.writer`), so an entry exists exactly
when its outcome committed.

Entries are stored encoded (orjson bytes, short keys, nulls left out) and kept encoded in memory: an
append never decodes the older entries. Kept entries are compact copies (`compact`), never orjson's
oversized output buffers. Every entry starts with `{"t":<epoch seconds>`, which lets the
TTL sweep read an entry's age without a JSON parse. `expand` turns an entry into the readable form the
console API serves. Short keys (see `FIELDS`):

    t     recorded at (epoch seconds, the worker's clock)   id   event_id
    st    state                                             src  source: hook | feed | backfill
    rcv   received_at (ingress/poller receipt time)         out  outcome (see OUTCOMES)
    in    [input partition, input offset]                   late newer state already emitted
    oms   [OMS order status, OMS read latency in ms]        rec  [topic, partition, offset] written
    seq   order_sequence of the downstream record           n    attempts of the batch (when > 1)
    retry {cause: count} of retries before the commit       why  dead-letter reason
    msg   dead-letter detail (truncated)                    acct account
    rpl   replayed from [dead-letter topic, partition, offset, replayed_at] (a replayed copy of an event)

A replayed event (`vtex-bridge replay` or the console's button) carries the headers `replay_of` and
`replayed_at` on its new input record; its entry says so (`rpl`), so that the operator tells the
replay from the original at a glance (same event id, state and receipt time, new input offset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from processors.work_view import WorkView

OUTCOMES: Final = ("emitted", "late", "duplicate", "dead_lettered", "invalid")

#: Short key -> name served by the console API.
FIELDS: Final[Mapping[str, str]] = {
    "t": "recorded_at",
    "id": "event_id",
    "st": "state",
    "src": "source",
    "rcv": "received_at",
    "out": "outcome",
    "in": "input",
    "late": "newer_state",
    "oms": "oms",
    "rec": "record",
    "seq": "order_sequence",
    "n": "attempts",
    "retry": "retries",
    "why": "reason",
    "msg": "detail",
    "acct": "account",
    "rpl": "replay",
}

#: Headers `processors.replay` puts on a replayed input record: where the dead letter was, and when.
REPLAY_OF_HEADER: Final = "replay_of"
REPLAYED_AT_HEADER: Final = "replayed_at"

#: Dead-letter details can quote whole OMS answers; the timeline keeps their start only.
DETAIL_MAX_CHARS: Final = 240

_PREFIX: Final = b'{"t":'


@dataclass(slots=True)
class Entry:
    """One outcome of one input event, not yet committed.

    `record` is the index, in the same write's records, of the downstream or dead-letter record this
    outcome produced; the writer replaces it by that record's (topic, partition, offset).
    """

    fields: dict[str, Any]
    record: int | None = None
    offset: int = 0  # input offset: a batch's entries are kept in arrival order


@dataclass(frozen=True, slots=True)
class TimelineOp:
    """A change to one order's timeline in a write: append entries and/or drop old ones."""

    order_id: str
    entries: Sequence[Entry] = ()
    #: Drop entries recorded before this epoch second (the TTL sweep); None keeps them.
    expire_before: float | None = None


@dataclass(slots=True)
class BatchHistory:
    """What a batch went through before its commit: attempts, retry causes, the OMS read."""

    attempts: int = 1
    retries: dict[str, int] = field(default_factory=dict)
    oms_status: str | None = None
    oms_ms: float | None = None

    def retried(self, cause: str) -> None:
        self.retries[cause] = self.retries.get(cause, 0) + 1


def entry(
    now: float,
    *,
    outcome: str,
    partition: int,
    offset: int,
    event_id: str | None = None,
    state: str | None = None,
    source: str | None = None,
    received_at: str | None = None,
    history: BatchHistory | None = None,
    record: int | None = None,
    **extra: Any,
) -> Entry:
    """Return the entry of one event's outcome; `extra` takes short keys (late, seq, why, msg, oms)."""
    fields: dict[str, Any] = {"t": round(now, 3)}  # "t" first: see `entry_time`
    if event_id is not None:
        fields["id"] = event_id
    if state is not None:
        fields["st"] = state
    if source is not None:
        fields["src"] = source
    if received_at:
        fields["rcv"] = received_at
    fields["out"] = outcome
    fields["in"] = [partition, offset]
    if history is not None:
        if history.oms_ms is not None and outcome in ("emitted", "late"):
            fields["oms"] = [history.oms_status, history.oms_ms]
        if history.attempts > 1:
            fields["n"] = history.attempts
        if history.retries:
            fields["retry"] = dict(history.retries)
    for key, value in extra.items():
        if value is not None:
            fields[key] = value
    if "msg" in fields:
        fields["msg"] = str(fields["msg"])[:DETAIL_MAX_CHARS]
    return Entry(fields, record, offset)


def replay_mark(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None) -> list[Any] | None:
    """Return `[dead-letter topic, partition, offset, replayed_at]` of a replayed record, else None."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found = {name: value for name, value in pairs if name in (REPLAY_OF_HEADER, REPLAYED_AT_HEADER)}
    origin = found.get(REPLAY_OF_HEADER)
    if origin is None:
        return None
    topic, _, place = origin.decode(errors="replace").rpartition("@")
    name, _, partition = topic.rpartition("[")
    replayed_at = found.get(REPLAYED_AT_HEADER, b"").decode(errors="replace") or None
    try:
        return [name, int(partition.rstrip("]")), int(place), replayed_at]
    except ValueError:
        return [origin.decode(errors="replace"), None, None, replayed_at]


def replay_origin(topic: str, partition: int, offset: int) -> bytes:
    """Return the `replay_of` header value of the dead letter at (`topic`, `partition`, `offset`)."""
    return f"{topic}[{partition}]@{offset}".encode()


def note(
    entries: list[Entry] | None,
    now: float,
    work: WorkView,
    outcome: str,
    history: BatchHistory | None,
    record: int | None = None,
    **extra: Any,
) -> None:
    """Append the entry of `work`'s outcome to `entries` (None: timelines are off, do nothing)."""
    if entries is None:
        return
    replayed = replay_mark(work.headers)
    if replayed is not None:
        extra = {**extra, "rpl": replayed}
    event = work.event
    if event is None:
        entries.append(
            entry(now, outcome=outcome, partition=work.partition, offset=work.offset, record=record, **extra)
        )
        return
    entries.append(
        entry(
            now,
            outcome=outcome,
            partition=work.partition,
            offset=work.offset,
            event_id=event.event_id,
            state=event.state,
            source=event.source,
            received_at=event.received_at,
            history=history,
            record=record,
            **extra,
        )
    )


def batch_op(order_id: str, entries: list[Entry] | None) -> list[TimelineOp]:
    """Return the timeline change of a batch: its entries in input order (none when there are none)."""
    if not entries:
        return []
    entries.sort(key=_input_offset)
    return [TimelineOp(order_id, entries)]


def _input_offset(entry: Entry) -> int:
    return entry.offset


def encode_entry(entry: Entry, record: tuple[str, int, int] | None = None) -> bytes:
    """Return the stored bytes of `entry`, with the position of the record it produced when known."""
    if record is not None:
        entry.fields["rec"] = list(record)
    return compact(orjson.dumps(entry.fields))


def compact(raw: bytes) -> bytes:
    """Return a copy of `raw` whose allocation fits its length, for bytes that are kept long.

    orjson (3.13) returns its output buffer as is: a 300-byte entry holds a 4-8 KB allocation, which a
    timeline keeps for days. `bytes(raw)` and `raw[:]` return `raw` itself; a copy through a memoryview
    allocates exactly `len(raw)` (plus the object header).
    """
    return bytes(memoryview(raw))


def entry_time(raw: bytes) -> float:
    """Return when an encoded entry was recorded, without parsing the whole entry."""
    if raw.startswith(_PREFIX):
        end = raw.find(b",", len(_PREFIX))
        if end > 0:
            try:
                return float(raw[len(_PREFIX) : end])
            except ValueError:
                pass
    value = orjson.loads(raw)
    return float(value.get("t", 0.0)) if isinstance(value, dict) else 0.0


def apply(
    current: Sequence[bytes], appended: Iterable[bytes], *, max_entries: int, expire_before: float | None
) -> list[bytes]:
    """Return the timeline after appending `appended`, keeping the newest `max_entries` within the TTL."""
    entries = list(current)
    entries.extend(appended)
    if expire_before is not None:
        entries = [e for e in entries if entry_time(e) >= expire_before]
    if len(entries) > max_entries:
        entries = entries[len(entries) - max_entries :]
    return entries


def encode_value(entries: Sequence[bytes]) -> bytes | None:
    """Return the changelog value of a timeline: a JSON array of entries; None (tombstone) when empty."""
    if not entries:
        return None
    return b"[" + b",".join(entries) + b"]"


def decode_value(value: bytes | None) -> list[bytes]:
    """Return the encoded entries of a changelog value (inverse of `encode_value`)."""
    if not value:
        return []
    items = orjson.loads(value)
    if not isinstance(items, list):
        return []
    return [compact(orjson.dumps(item)) for item in items if isinstance(item, dict)]


def expand(raw: bytes) -> dict[str, Any]:
    """Return an encoded entry with readable field names (the console API's form)."""
    value = orjson.loads(raw)
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = FIELDS.get(key, key)
        if key == "in" and isinstance(item, list) and len(item) == 2:
            item = {"partition": item[0], "offset": item[1]}
        elif key == "rec" and isinstance(item, list) and len(item) == 3:
            item = {"topic": item[0], "partition": item[1], "offset": item[2]}
        elif key == "oms" and isinstance(item, list) and len(item) == 2:
            item = {"status": item[0], "latency_ms": item[1]}
        elif key == "rpl" and isinstance(item, list) and len(item) == 4:
            item = {
                "dead_letter": {"topic": item[0], "partition": item[1], "offset": item[2]},
                "replayed_at": item[3],
            }
        out[name] = item
    return out
