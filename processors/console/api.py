"""The console's JSON API on the worker's console port: an order's timeline, dead letters, replay.

    GET  /api/session                    who the request is logged in as
    GET  /api/orders/{order_id}          timeline + pending events (in a not-found grace, backing off,
                                         queued) + latest enriched order (masked); any worker answers;
                                         `?account=NAME`: the order of that VTEX account (default: the
                                         registry's default account; the same OrderId may exist in two)
    GET  /api/dead-letters?limit=50      recent dead letters with their reason (masked)
    POST /api/dead-letters/replay        put dead letters back on the input topic (admin token)

Every request needs a login (`processors.console.auth`, checked by the console app's middleware before
any handler runs).

Any worker answers for any order: the order's input partition is computed like the producers do; if
this worker owns it, the answer is local (its timeline store), otherwise the request is forwarded once
to the owner's advertised URL (`processors.console.ownership`), marked so that a stale view of the
assignment can never bounce it back and forth, and authenticated with this worker's own token (the
workers share their settings). Replay needs `Authorization: Bearer <console_admin_token>` and is
disabled (403) while no admin token is configured; it runs the code of `vtex-bridge replay`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout, web
from prometheus_client import CollectorRegistry, Counter

from bridge.accounts import order_key
from bridge.events import HEADER_STATE
from bridge.identifiers import account_name_problem, order_id_problem
from bridge.settings import Settings
from processors.console.auth import LOGIN, Authenticator, bearer
from processors.console.masking import mask_event, mask_order, mask_text
from processors.console.ownership import Owners
from processors.console.reader import RecordReader
from processors.timeline import expand
from processors.timeline_store import TimelineStore

log = logging.getLogger(__name__)

#: Set on a forwarded request: the receiver answers locally or says it is not the owner, never forwards.
HOP_HEADER: Final = "X-Bridge-Console-Hop"
FORWARD_TIMEOUT_S: Final = 15.0
REPLAY_TIMEOUT_S: Final = 120.0
DEFAULT_DEAD_LETTERS: Final = 50
#: Orders `/api/orders/recent` lists: the newest on the input topic (at most one read per partition).
RECENT_ORDERS: Final = 10
MAX_DEAD_LETTERS: Final = 500
API_HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ConsoleRuntime(Protocol):
    """What the console needs of the worker's `processors.runtime.Runtime`."""

    settings: Settings

    def owns(self, partition: int) -> bool: ...

    def timelines(self, partition: int) -> TimelineStore | None: ...


ReplayAll = Callable[..., Awaitable[dict[str, Any]]]
ReplayOne = Callable[..., Awaitable[dict[str, Any]]]


@dataclass
class Console:
    """Everything the handlers share (one per worker web app)."""

    runtime: ConsoleRuntime
    owners: Owners
    own_url: str
    reader: RecordReader
    replay_all: ReplayAll
    replay_one: ReplayOne
    requests: Counter
    forwards: Counter
    replays: Counter
    auth: Authenticator
    session: ClientSession | None = None

    @property
    def settings(self) -> Settings:
        return self.runtime.settings


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)


def console_metrics(registry: CollectorRegistry) -> tuple[Counter, Counter, Counter]:
    return (
        Counter(
            "vtex_bridge_console_requests_total",
            "Console API requests by endpoint and status",
            ["endpoint", "status"],
            registry=registry,
        ),
        Counter(
            "vtex_bridge_console_forwards_total",
            "Order lookups forwarded to the partition's owner, by outcome",
            ["outcome"],
            registry=registry,
        ),
        Counter(
            "vtex_bridge_console_replays_total", "Replays run from the console", ["kind"], registry=registry
        ),
    )


def _json(body: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=API_HEADERS
    )


def _answer(console: Console, endpoint: str, body: Mapping[str, Any], status: int = 200) -> web.Response:
    console.requests.labels(endpoint, str(status)).inc()
    return _json(body, status)


async def session_info(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    login = request[LOGIN]
    return _answer(console, "session", {"user": login.user, "method": login.method, "admin": login.admin})


async def get_order(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    order_id = request.match_info["order_id"]
    problem = order_id_problem(order_id)
    if problem is not None:  # refused before it reaches a log line, a URL or a forwarded request
        return _answer(console, "order", {"error": "bad-order-id", "detail": f"order_id {problem}"}, 400)
    account = request.query.get("account") or _default_account(console)
    problem = account_name_problem(account)
    if problem is not None:
        return _answer(console, "order", {"error": "bad-account", "detail": f"account {problem}"}, 400)
    partition, owner = console.owners.locate(order_id)  # producers key by OrderId, whatever the account
    base = {"order_id": order_id, "account": account, "partition": partition}
    if console.runtime.owns(partition):
        return await _local_order(request, console, order_id, account, partition)
    if request.headers.get(HOP_HEADER):
        # The sender's view of the assignment is stale (a rebalance is under way): say so, do not bounce.
        return _answer(console, "order", {**base, "error": "not-owner", "answered_by": console.own_url}, 503)
    if owner is None or owner == console.own_url:
        return _answer(
            console, "order", {**base, "error": "owner-unknown", "answered_by": console.own_url}, 503
        )
    return await _forward(request, console, owner, base)


def _default_account(console: Console) -> str:
    """The account of a lookup that names none: the worker's default (`bridge.accounts`)."""
    default = getattr(console.runtime, "default_account", None)  # a test runtime may have none
    return default if isinstance(default, str) and default else console.settings.vtex_account


async def _local_order(
    request: web.Request, console: Console, order_id: str, account: str, partition: int
) -> web.Response:
    settings = console.settings
    base = {"order_id": order_id, "account": account, "partition": partition, "answered_by": console.own_url}
    key = order_key(account, order_id, _default_account(console))
    if not settings.worker_timeline_enabled:
        return _answer(console, "order", {**base, "error": "timeline-disabled"}, 501)
    store = console.runtime.timelines(partition)
    if store is None:
        return _answer(console, "order", {**base, "error": "not-ready"}, 503)
    timeline = [expand(raw) for raw in store.get(key)]
    for entry in timeline:
        if isinstance(entry.get("detail"), str):
            entry["detail"] = mask_text(entry["detail"])
    pending = _pending(console.runtime, key, partition)
    if not timeline and not pending:
        return _answer(console, "order", {**base, "error": "not-found"}, 404)
    latest = None
    if request.query.get("latest", "1") != "0":
        latest = await _latest(console, timeline)
    body = {**base, "forwarded": False, "timeline": timeline, "pending": pending, "latest": latest}
    return _answer(console, "order", body)


def _pending(runtime: ConsoleRuntime, key: str, partition: int) -> list[dict[str, Any]]:
    """The order's events still in this worker (in a not-found grace, backing off, queued, its
    account's parked ones in its partition): pending."""
    pending = getattr(runtime, "pending", None)  # a runtime without unfinished work (tests) has none
    return list(pending(key, partition)) if callable(pending) else []


async def _latest(console: Console, timeline: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the newest downstream record of the timeline, read from Kafka and masked."""
    for item in reversed(timeline):
        record = item.get("record")
        if item.get("outcome") in ("emitted", "late") and isinstance(record, dict):
            break
    else:
        return None
    topic, partition, offset = record["topic"], int(record["partition"]), int(record["offset"])
    try:
        message = await console.reader.record_at(topic, partition, offset)
    except Exception as exc:  # a page view must not fail on a slow or unreachable broker
        log.warning("could not read the latest record", extra={"record": record, "error": repr(exc)})
        return {"record": record, "error": "unreadable"}
    if message is None or not message.value:
        return {"record": record, "error": "gone"}  # deleted by retention
    value = orjson.loads(message.value)
    order = value.get("order") if isinstance(value, dict) else None
    return {
        "record": record,
        "event_id": value.get("event_id"),
        "state": value.get("state"),
        "processed_at": value.get("processed_at"),
        "order_status": value.get("order_status"),
        "order_sequence": value.get("order_sequence"),
        "late": value.get("late"),
        "order": mask_order(order) if isinstance(order, dict) else None,
    }


async def _forward(request: web.Request, console: Console, owner: str, base: dict[str, Any]) -> web.Response:
    session = console.session
    assert session is not None
    url = f"{owner}{request.rel_url.path_qs}"
    try:
        headers = {HOP_HEADER: "1", "Authorization": f"Bearer {console.auth.service_token()}"}
        async with session.get(
            url, headers=headers, timeout=ClientTimeout(total=FORWARD_TIMEOUT_S)
        ) as response:
            raw = await response.read()
            status = response.status
        body = orjson.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("owner answered a non-object")
    except (ClientError, TimeoutError, ValueError) as exc:
        console.forwards.labels("failed").inc()
        log.warning("forwarding an order lookup failed", extra={"owner": owner, "error": repr(exc), **base})
        return _answer(console, "order", {**base, "error": "owner-unreachable", "owner": owner}, 502)
    console.forwards.labels("ok").inc()
    body["forwarded"] = True
    body["forwarded_by"] = console.own_url
    return _answer(console, "order", body, status)


async def recent_orders(request: web.Request) -> web.Response:
    """List the orders seen last on the input topic (id, state, time), newest first: ids to look up."""
    console = request.app[CONSOLE]
    topic = console.settings.input_topic
    try:
        messages = await console.reader.tail(topic, 3)
    except Exception as exc:
        log.warning("could not read the input topic", extra={"topic": topic, "error": repr(exc)})
        return _answer(console, "recent", {"error": "kafka-unavailable"}, 503)
    orders: dict[str, dict[str, Any]] = {}
    for message in sorted(messages, key=lambda m: m.timestamp or 0, reverse=True):
        order_id = (message.key or b"").decode(errors="replace")
        if order_id_problem(order_id) is not None or order_id in orders:
            continue
        state = dict(message.headers or ()).get(HEADER_STATE, b"").decode(errors="replace")
        orders[order_id] = {"order_id": order_id, "state": state, "timestamp": message.timestamp}
    return _answer(console, "recent", {"topic": topic, "orders": list(orders.values())[:RECENT_ORDERS]})


async def dead_letters(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    try:
        limit = int(request.query.get("limit", DEFAULT_DEAD_LETTERS))
    except ValueError:
        return _answer(console, "dead-letters", {"error": "bad-limit"}, 400)
    limit = max(1, min(limit, MAX_DEAD_LETTERS))
    order_id = request.query.get("order_id") or None
    problem = None if order_id is None else order_id_problem(order_id)
    if problem is not None:
        return _answer(
            console, "dead-letters", {"error": "bad-order-id", "detail": f"order_id {problem}"}, 400
        )
    topic = console.settings.dead_letter_topic
    try:
        messages = await console.reader.tail(topic, limit)
    except Exception as exc:
        log.warning("could not read dead letters", extra={"topic": topic, "error": repr(exc)})
        return _answer(console, "dead-letters", {"error": "kafka-unavailable"}, 503)
    letters = [_letter(topic, m) for m in messages]
    if order_id is not None:
        letters = [letter for letter in letters if letter.get("order_id") == order_id]
    letters.sort(key=lambda letter: (letter["timestamp"] or 0, letter["offset"]), reverse=True)
    return _answer(console, "dead-letters", {"topic": topic, "dead_letters": letters[:limit]})


def _letter(topic: str, message: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(message.value) if message.value else {}
    except orjson.JSONDecodeError:
        value = {}
    if not isinstance(value, dict):
        value = {}
    event: Any = value.get("event")
    if isinstance(event, str):
        try:
            event = orjson.loads(event)
        except orjson.JSONDecodeError:
            event = None
    return {
        "topic": topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": message.timestamp,
        "reason": value.get("reason"),
        "detail": mask_text(str(value.get("detail") or "")[:500]),
        "order_id": value.get("order_id"),
        "state": value.get("state"),
        "event_id": value.get("event_id"),
        "dead_lettered_at": value.get("dead_lettered_at"),
        "input": {
            "topic": value.get("input_topic"),
            "partition": value.get("partition"),
            "offset": value.get("offset"),
        },
        "event": mask_event(event) if isinstance(event, dict) else None,
    }


def _authorized(console: Console, request: web.Request) -> web.Response | None:
    """Return the refusal of a replay request, or None when its bearer token is the admin token."""
    if not console.settings.console_admin_token.get_secret_value():
        return _answer(console, "replay", {"error": "replay-disabled"}, 403)
    if not console.auth.is_admin_token(bearer(request)):
        console.requests.labels("replay", "401").inc()
        return web.Response(
            body=orjson.dumps({"error": "unauthorized"}),
            status=401,
            content_type="application/json",
            headers={**API_HEADERS, "WWW-Authenticate": 'Bearer realm="vtex-bridge console"'},
        )
    return None


async def replay(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    refused = _authorized(console, request)
    if refused is not None:
        return refused
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        return _answer(console, "replay", {"error": "bad-json"}, 400)
    if not isinstance(body, dict):
        return _answer(console, "replay", {"error": "bad-request"}, 400)
    try:
        if body.get("all") is True:
            kind = "all"
            reason, limit = body.get("reason"), body.get("limit")
            if (reason is not None and not isinstance(reason, str)) or (
                limit is not None and not isinstance(limit, int)
            ):
                return _answer(console, "replay", {"error": "bad-request"}, 400)
            work = console.replay_all(
                console.settings, reason=reason, limit=limit, dry_run=body.get("dry_run") is True
            )
        else:
            partition, offset = body.get("partition"), body.get("offset")
            if not isinstance(partition, int) or not isinstance(offset, int) or partition < 0 or offset < 0:
                return _answer(console, "replay", {"error": "bad-request"}, 400)
            kind = "one"
            work = console.replay_one(console.settings, partition=partition, offset=offset)
        result = await asyncio.wait_for(work, REPLAY_TIMEOUT_S)
    except LookupError as exc:
        return _answer(console, "replay", {"error": "not-found", "detail": str(exc)}, 404)
    except Exception as exc:
        log.warning("replay from the console failed", extra={"error": repr(exc)})
        return _answer(console, "replay", {"error": "replay-failed", "detail": repr(exc)[:300]}, 502)
    console.replays.labels(kind).inc()
    log.warning("dead letters replayed from the console", extra={"kind": kind, **result})
    return _answer(console, "replay", {"kind": kind, **result})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/session", session_info)
    app.router.add_get("/api/orders/recent", recent_orders)
    app.router.add_get("/api/orders/{order_id}", get_order)
    app.router.add_get("/api/dead-letters", dead_letters)
    app.router.add_post("/api/dead-letters/replay", replay)
