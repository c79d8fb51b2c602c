"""Backfill: inject synthetic input events for orders whose notifications were missed.

When the bridge was unreachable for longer than VTEX's retry window (about 4 days, REFERENCE.md
section 5) or the hook was deleted, the missed events are gone from VTEX. Backfill reads each order from
OMS and produces one input event per order describing its *current* state, marked `source: backfill`:
State = the order's `status`, LastChange = its `lastChange`. Running it twice yields the same
`event_id`s (the triple is the same), so the processor de-dups the second run; the same holds for
orders that did receive a hook for that exact state and change. A hook's LastChange is the moment of
the status change while the order's lastChange moves with any edit, so a backfill event for an order
that changed since is a new event (the processor's lateness logic orders it).

`list_order_ids` finds the ids for a date range through VTEX's List orders API (orders *created* in
the range; it reads VTEX's search index, so the last few minutes may be missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson

from bridge.events import InputEvent, build_input_event, utc_now_iso
from bridge.feed_poller.lot_sender import RecordSink
from bridge.identifiers import order_id_problem
from bridge.timestamps import InvalidTimestamp, canonical_timestamp
from bridge.topics.resolver import InputTopicSource
from bridge.validation import SchemaViolation, validate
from bridge.vtex.config_models import EXIT_AUTH, EXIT_NOT_FOUND, EXIT_UNAVAILABLE
from bridge.vtex.errors import OmsAuthError, OmsError, OmsUnavailable, OrderNotFound

log = logging.getLogger(__name__)

#: List orders pages are capped by VTEX (30 pages of at most 100 orders, as far as we know).
MAX_LIST_PAGES: Final = 30
LIST_PER_PAGE: Final = 100
_DATE_ONLY: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Hook `Domain` values; an order's `origin` outside them (e.g. Chain) is reported as Marketplace.
DOMAINS: Final = frozenset({"Marketplace", "Fulfillment"})


class OrderReader(Protocol):
    """The part of `bridge.vtex.oms.OmsClient` backfill uses."""

    async def get_order(self, order_id: str) -> Mapping[str, Any]: ...


class OrderLister(Protocol):
    """The List orders call of `bridge.vtex.config_api.ConfigApiClient`."""

    async def list_orders_page(self, since: str, until: str, page: int, per_page: int) -> dict[str, Any]: ...


class InvalidRange(ValueError):
    """The date range is malformed, reversed, or holds more orders than List orders can page through."""


class BackfillAborted(Exception):
    """A failure that would hit every order (credentials, permissions): stop at once."""


@dataclass
class BackfillResult:
    """What a run did: events produced, orders not found, orders that failed otherwise."""

    produced: list[InputEvent] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.not_found and not self.failed


def read_order_ids(lines: Iterable[str]) -> list[str]:
    """Return the order ids of a file's lines (blank lines and `#` comments skipped), each once."""
    ids = (line.split("#", 1)[0].strip() for line in lines)
    return list(dict.fromkeys(i for i in ids if i))


def parse_bound(text: str, *, end: bool) -> str:
    """Return a range bound as VTEX's filter writes it (UTC, milliseconds, Z).

    A bare date means the start of that day for `--since` and its last millisecond for `--until`.
    """
    text = text.strip()
    if _DATE_ONLY.match(text):
        text = f"{text}T23:59:59.999Z" if end else f"{text}T00:00:00.000Z"
    try:
        canonical = canonical_timestamp(text)
    except InvalidTimestamp as exc:
        raise InvalidRange(f"not an ISO-8601 date or date-time: {text!r}") from exc
    return f"{canonical[:23]}Z"


async def list_order_ids(lister: OrderLister, since: str, until: str) -> list[str]:
    """Return the ids of the orders created between `since` and `until` (bounds from `parse_bound`)."""
    if since > until:
        raise InvalidRange(f"--since {since} is after --until {until}")
    ids: list[str] = []
    page = 1
    while True:
        data = await lister.list_orders_page(since, until, page, LIST_PER_PAGE)
        paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
        assert isinstance(paging, dict)
        pages = int(paging.get("pages") or 0)
        if pages > MAX_LIST_PAGES:
            raise InvalidRange(
                f"{paging.get('total', '?')} orders in the range: more than List orders pages through "
                f"({MAX_LIST_PAGES} pages of {LIST_PER_PAGE}); split it into smaller ranges"
            )
        ids.extend(str(o["orderId"]) for o in data["list"] if isinstance(o, dict) and o.get("orderId"))
        if not data["list"] or page >= pages:
            return list(dict.fromkeys(ids))
        page += 1


def order_to_payload(order: Mapping[str, Any], *, account: str, app_key: str) -> dict[str, Any]:
    """Return the hook payload describing the order's current state (no LastState: it is unknown)."""
    last_change = str(order.get("lastChange") or "")
    with contextlib.suppress(InvalidTimestamp):  # an unparsable one is reported by the schema check
        last_change = canonical_timestamp(last_change)  # the hook's form: UTC, 7 digits, Z
    origin = order.get("origin")
    return {
        "Domain": origin if origin in DOMAINS else "Marketplace",
        "OrderId": str(order.get("orderId") or ""),
        "State": order.get("status"),
        "LastChange": last_change,
        "Origin": {"Account": account, "Key": app_key},
    }


def oms_error_exit_code(exc: OmsError) -> tuple[int, str]:
    """Return the CLI exit code and the operator hint for an OMS client error."""
    if isinstance(exc, OrderNotFound):
        return EXIT_NOT_FOUND, "check the id; OMS only serves orders created in the last two years"
    if isinstance(exc, OmsAuthError):
        return EXIT_AUTH, (
            "check VTEX_APP_KEY / VTEX_APP_TOKEN; the appKey's role needs 'View order' (OMS) or "
            "'Orders Full Access'"
        )
    if isinstance(exc, OmsUnavailable):
        return EXIT_UNAVAILABLE, "VTEX is failing or throttling (429); retry in a minute"
    return 1, "unexpected answer from OMS"


async def backfill_orders(
    order_ids: Sequence[str],
    *,
    oms: OrderReader,
    sink: RecordSink | None,
    topic: str | InputTopicSource,
    account: str,
    app_key: str,
    concurrency: int = 4,
    produce_timeout_s: float = 10.0,
    dead_letter_topic: str | None = None,
) -> BackfillResult:
    """Produce one `source: backfill` event per order (`sink` None = dry run: build, do not produce).

    An id that is no VTEX OrderId is never sent to OMS: it is reported and, with `dead_letter_topic`
    (and a sink), dead-lettered with the reason like an unusable feed item, so the refusal is on record
    next to the processor's. An order that cannot be read or does not make a valid event is reported
    and skipped; a credentials
    or permission failure raises `BackfillAborted` because it would fail every order. `topic` is the
    input topic, or a source of the current one (`bridge.topics.resolver`), read at every send.
    """
    result = BackfillResult()
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(order_id: str) -> None:
        invalid = order_id_problem(order_id)
        if invalid is not None:  # never sent to OMS: it could steer the authenticated call
            result.failed[order_id] = f"invalid OrderId: it {invalid}"
            if sink is not None and dead_letter_topic:
                await _dead_letter_invalid(
                    sink, dead_letter_topic, order_id, invalid, account, produce_timeout_s
                )
            return
        async with gate:
            try:
                order = await oms.get_order(order_id)
            except OrderNotFound:
                result.not_found.append(order_id)
                return
            except OmsAuthError as exc:
                raise BackfillAborted(str(exc)) from exc
            except OmsError as exc:
                result.failed[order_id] = str(exc)
                return
            payload = order_to_payload(order, account=account, app_key=app_key)
            try:
                validate("hook-notification", payload)
            except SchemaViolation as exc:
                result.failed[order_id] = f"order does not make a valid event ({exc.path}: {exc})"
                return
            event = build_input_event(payload, source="backfill", account=account)
            if sink is not None:
                try:
                    current = topic if isinstance(topic, str) else topic.produce_topic
                    await sink.send(
                        current, event.key(), event.encode(), event.headers(), timeout=produce_timeout_s
                    )
                except Exception as exc:  # any produce failure: report this order, keep going
                    result.failed[order_id] = f"not acknowledged by Kafka: {exc}"
                    return
            result.produced.append(event)
            log.info(
                "backfill event produced" if sink is not None else "backfill event built (dry run)",
                extra={"order_id": event.order_id, "state": event.state, "event_id": event.event_id},
            )

    tasks = [asyncio.create_task(one(order_id)) for order_id in dict.fromkeys(order_ids)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result


#: The dead-letter reason of an id that is no VTEX OrderId (`bridge.identifiers`).
REASON_INVALID_ID: Final = "invalid_order_id"


async def _dead_letter_invalid(
    sink: RecordSink, topic: str, order_id: str, problem: str, account: str, timeout: float
) -> None:
    """Write the dead letter of an invalid id, in the processor's dead-letter shape; a failed write is
    logged (the id is reported on the command's output either way)."""
    value = orjson.dumps(
        {
            "reason": REASON_INVALID_ID,
            "detail": f"OrderId {problem}",
            "event_id": None,
            "order_id": order_id,
            "state": None,
            "input_topic": None,
            "partition": None,
            "offset": None,
            "dead_lettered_at": utc_now_iso(),
            "source": "backfill",
            "account": account,
            "event": orjson.dumps({"OrderId": order_id}).decode(),  # what was asked for
        }
    )
    headers = [("dead_letter_reason", REASON_INVALID_ID.encode()), ("source", b"backfill")]
    try:
        await sink.send(topic, b"invalid-order-id", value, headers, timeout=timeout)
    except Exception as exc:  # reported on the command's output already
        log.warning("could not dead-letter an invalid OrderId", extra={"error": repr(exc)})
