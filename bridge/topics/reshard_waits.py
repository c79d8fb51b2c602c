"""Say what a reshard's drain waits for: which partitions, which events, and why.

The drain ends when the previous generation's group committed the end of every partition. A partition's
commits stop at its first unfinished record, so that record is what the partition waits for. This
module reads it from Kafka (its order and state) and asks the workers' console what the event waits for
(`processors.pending`: OMS answered 404 and the order is in its not-found grace, or a failure is being
retried with backoff, or it is queued behind such an event; or it is done and only the offset commit is
due). Without a reachable console the lines still name the partition, offset and order, and say how to
look it up. Read-only: one record read per waiting partition and one console request per order.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson

from bridge.console_client import console_base, fetch, order_path, waiting_text
from bridge.settings import Settings
from bridge.topics.reshard_kafka import Behind, ReshardKafka

#: At most this many partitions are detailed per progress report (the rest are counted).
DETAILED_PARTITIONS: Final = 5
CONSOLE_TIMEOUT_S: Final = 3.0


async def drain_report(
    settings: Settings, kafka: ReshardKafka, topic: str, behind: list[Behind], members: int
) -> list[str]:
    """Return the progress lines of a drain: the total, then one line per waiting partition."""
    left = sum(p.left for p in behind)
    partitions = ", ".join(str(p.partition) for p in behind)
    hint = "" if members else " (no worker running: start the workers)"
    lines = [f"reshard: draining {topic}: {left} record(s) left in partition(s) {partitions}{hint}"]
    if not members:
        return lines
    for part in behind[:DETAILED_PARTITIONS]:
        lines.append(f"reshard:   {await _partition_line(settings, kafka, topic, part)}")
    if len(behind) > DETAILED_PARTITIONS:
        lines.append(f"reshard:   ... and {len(behind) - DETAILED_PARTITIONS} more partition(s)")
    return lines


async def _partition_line(settings: Settings, kafka: ReshardKafka, topic: str, part: Behind) -> str:
    head = f"partition {part.partition}: {part.left} left from offset {part.position}"
    try:
        record = await kafka.record_at(topic, part.partition, part.position)
    except Exception as exc:  # a progress line must not fail the reshard
        return f"{head} (its record could not be read: {type(exc).__name__})"
    if record is None or not record.key:
        return f"{head} (record not readable yet)"
    order_id = record.key.decode(errors="replace")
    state = dict(record.headers or ()).get("state", b"").decode(errors="replace") or "-"
    account = _account(record.value)
    why = await asyncio.to_thread(_why, settings, order_id, account, part.partition, part.position)
    of = "" if account is None else f" of account {account}"
    return f"{head}, waiting on order {order_id}{of} (state {state}): {why}"


def _account(value: bytes | None) -> str | None:
    """The `account` an input record names (None: none, or not readable; the default account's)."""
    try:
        account = orjson.loads(value or b"{}").get("account")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return account if isinstance(account, str) and account else None


def _why(settings: Settings, order_id: str, account: str | None, partition: int, offset: int) -> str:
    """Ask the workers' console what the event at (`partition`, `offset`) of `order_id` waits for."""
    base = console_base(settings)
    try:
        path = order_path(order_id, account)
        status, body = fetch(settings, base, path, timeout_s=CONSOLE_TIMEOUT_S)
    except OSError:
        return f"why unknown: the worker console at {base} did not answer (`vtex-bridge order {order_id}`)"
    if not isinstance(body, dict) or status not in (200, 404):
        return f"why unknown: the worker console answered {status} (`vtex-bridge order {order_id}`)"
    pending: list[dict[str, Any]] = [p for p in body.get("pending") or [] if isinstance(p, dict)]
    for entry in pending:
        where = entry.get("input") or {}
        if where.get("partition") == partition and where.get("offset") == offset:
            return waiting_text(entry.get("waiting"))
    if pending:  # an earlier event of the order holds its lane
        return waiting_text(pending[0].get("waiting")) + " (an earlier event of the order)"
    for entry in body.get("timeline") or []:
        where = entry.get("input") or {}
        if where.get("partition") == partition and where.get("offset") == offset:
            return f"processed ({entry.get('outcome')}); the offset commit follows within seconds"
    return "not taken by a worker yet (queued in Kafka behind the partition's earlier records)"
