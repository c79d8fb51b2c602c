"""The hook endpoint: admission, authentication, validation, produce; 200 only after Kafka's ack.

Order of checks, and why:
1. the secret header (from the request head alone, constant time): authentication comes before
   admission, so unauthenticated senders never occupy the in-flight budget meant for VTEX. Without
   it a request can only be a ping: it gets its own small bound (`ingress_max_unauthenticated_in_flight`,
   503 beyond), at most a ping-sized body read, then 200 for a ping or 401;
2. in-flight bound of authenticated hooks (503 `overloaded`);
3. the body, bounded in size (413) and time (408), parsed as JSON;
4. the configuration ping `{"hookConfig":"ping"}`: 200, nothing produced (docs/ingress.md, "The ping");
5. content type (415), JSON (400), nesting depth (422), `Origin.Account`/`Origin.Key` against the
   header's account (401);
6. the OrderId's shape (`bridge.identifiers`) and the hook-notification JSON Schema (422, naming the field);
7. produce keyed by OrderId and wait for the broker's acknowledgement, all inside the answer deadline
   (`ingress_answer_deadline_s`, well under VTEX's 5,000 ms); any produce trouble is 503 + Retry-After.

A request head that does not arrive in time is cut by the server (`ingress_header_timeout_s`,
bridge.ingress.server), before any of this runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, Final

import orjson
from aiohttp import web

from bridge.events import InputEvent, build_input_event
from bridge.identifiers import order_id_problem
from bridge.ingress.accounts import HookAccount
from bridge.ingress.auth import REASON_ORIGIN_MISMATCH, Authenticator, HeaderCheck
from bridge.ingress.responses import JSON, error_response, json_response
from bridge.ingress.state import READY_CACHE_S, STATE, IngressState, header_check
from bridge.ingress.tracing import send_traced
from bridge.kafka_producer import ProduceError, ProducerUnavailable, ProduceTimeout
from bridge.timestamps import InvalidTimestamp, canonical_timestamp
from bridge.validation import SchemaViolation, validate

log = logging.getLogger(__name__)

#: An unauthenticated request can only be a ping; no ping is longer than this.
PING_MAX_BYTES: Final = 1024
#: Below this much time left there is no point in handing a record to the producer.
MIN_PRODUCE_S: Final = 0.05
#: A hook is two levels deep; orjson parses 1,024 levels but serializes only 254, so a deeper body would
#: fail at produce time (a 503 VTEX retries for days). Anything deeper than this is refused with 422.
MAX_JSON_DEPTH: Final = 32
_MISSING_RE: Final = re.compile(r"must contain \[(.*)\] properties")
_CLAIMED_MAX: Final = 128


class _TooLarge(Exception):
    pass


async def handle_hook(request: web.Request) -> web.Response:
    """Answer one VTEX hook POST."""
    state = request.app[STATE]
    header = header_check(request)
    if not header.ok:
        return await _handle_unauthenticated(request, state, header)
    if state.in_flight >= state.settings.ingress_max_in_flight:
        state.metrics.outcome["overloaded"].inc()
        return _overloaded(state)
    state.in_flight += 1
    try:
        return await _handle(
            request, state, header, time.monotonic() + state.settings.ingress_answer_deadline_s
        )
    finally:
        state.in_flight -= 1


async def _handle_unauthenticated(
    request: web.Request, state: IngressState, header: HeaderCheck
) -> web.Response:
    """A request without a valid secret: a ping (200) or 401, within its own small bound."""
    settings = state.settings
    if state.unauthenticated_in_flight >= settings.ingress_max_unauthenticated_in_flight:
        state.metrics.outcome["unauthenticated_overloaded"].inc()
        return _overloaded(state)
    state.unauthenticated_in_flight += 1
    try:
        try:
            body = await _read_body(request, PING_MAX_BYTES, settings.ingress_body_timeout_s)
        except _TooLarge:
            return _unauthorized(state, request, header.reason, None)
        except TimeoutError:
            state.metrics.outcome["request_timeout"].inc()
            return error_response(408, "request_timeout", "the body did not arrive in time")
        payload, _ = _parse(body)
        if _is_ping(payload) and not settings.ingress_ping_requires_secret:
            return _ping(state, request, authenticated=False)
        return _unauthorized(state, request, header.reason, payload)
    finally:
        state.unauthenticated_in_flight -= 1


async def _handle(
    request: web.Request, state: IngressState, header: HeaderCheck, deadline: float
) -> web.Response:
    settings, metrics = state.settings, state.metrics
    try:
        body = await _read_body(request, settings.ingress_max_body_bytes, settings.ingress_body_timeout_s)
    except _TooLarge:
        metrics.outcome["payload_too_large"].inc()
        return error_response(
            413, "payload_too_large", f"the body exceeds {settings.ingress_max_body_bytes} bytes", field="$"
        )
    except TimeoutError:
        metrics.outcome["request_timeout"].inc()
        return error_response(408, "request_timeout", "the body did not arrive in time")

    payload, parse_error = _parse(body)
    if _is_ping(payload):
        return _ping(state, request, authenticated=True)
    if _content_type(request) != JSON:
        metrics.outcome["unsupported_media_type"].inc()
        return error_response(415, "unsupported_media_type", f"Content-Type must be {JSON}")
    if parse_error is not None:
        metrics.outcome["invalid_json"].inc()
        return error_response(400, "invalid_json", f"the body is not valid JSON: {parse_error}", field="$")
    if _deeper_than(payload, MAX_JSON_DEPTH):
        metrics.outcome["schema_violation"].inc()
        return error_response(
            422, "schema_violation", f"the body is nested deeper than {MAX_JSON_DEPTH} levels", field="$"
        )
    origin = payload.get("Origin") if isinstance(payload, dict) else None
    account = Authenticator.match_origin(header.accounts, origin)
    if account is None:
        return _unauthorized(state, request, REASON_ORIGIN_MISMATCH, payload)
    _mark_received(state, account)
    order_id = payload.get("OrderId")
    invalid_id = order_id_problem(order_id) if isinstance(order_id, str) else None
    if invalid_id is not None:  # a clearer message than the schema's pattern; never reaches a URL
        metrics.outcome["schema_violation"].inc()
        log.info("hook rejected: invalid OrderId", extra={"reason": invalid_id, "account": account.account})
        return error_response(422, "schema_violation", f"OrderId {invalid_id}", field="OrderId")
    try:
        validate("hook-notification", payload)
    except SchemaViolation as exc:
        metrics.outcome["schema_violation"].inc()
        field = _violation_field(payload, exc)
        log.info("hook rejected by schema", extra={"field": field, "account": account.account})
        return error_response(422, "schema_violation", str(exc), field=field)
    return await _produce(state, payload, account, deadline)


def _overloaded(state: IngressState) -> web.Response:
    return error_response(
        503, "overloaded", "too many hooks in flight; retry later",
        retry_after=state.settings.ingress_retry_after_s,
    )  # fmt: skip


def _deeper_than(value: Any, limit: int) -> bool:
    """Tell whether `value` nests containers more than `limit` levels deep (level by level: no recursion)."""
    level: list[Any] = [value] if isinstance(value, (dict, list)) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        children: list[Any] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, (dict, list)):
                    children.append(child)
        level = children
        depth += 1
    return False


async def _produce(
    state: IngressState, payload: dict[str, Any], account: HookAccount, deadline: float
) -> web.Response:
    settings, metrics = state.settings, state.metrics
    for name in ("LastChange", "CurrentChange"):
        try:
            if payload.get(name) is not None:
                canonical_timestamp(str(payload[name]))
        except InvalidTimestamp as exc:
            # The schema's date-time check is a regex: a second of 60, year 0 or an instant that
            # overflows with its offset pass it but are not instants, and could not be ordered later.
            metrics.outcome["schema_violation"].inc()
            message = f"{name} is not a representable instant: {exc}"
            return error_response(422, "schema_violation", message, field=name)
    event = build_input_event(payload, source="hook", account=account.account)
    remaining = min(settings.ingress_produce_timeout_s, deadline - time.monotonic())
    if remaining < MIN_PRODUCE_S:
        metrics.outcome["kafka_timeout"].inc()
        return _unavailable(settings.ingress_retry_after_s, "kafka_timeout", "no time left to produce")
    started = time.monotonic()
    try:
        if state.tracing.enabled:  # the record then carries the trace context in its headers
            record = await send_traced(state, event, remaining)
        else:
            record = await state.producer.send(
                state.input_topic, event.key(), event.encode(), event.headers(), timeout=remaining
            )
    except ProducerUnavailable:
        metrics.outcome["kafka_unavailable"].inc()
        log.warning("hook refused: no Kafka producer", extra=_log_extra(event))
        return _unavailable(settings.ingress_retry_after_s, "kafka_unavailable", "Kafka is not reachable")
    except ProduceTimeout:
        metrics.outcome["kafka_timeout"].inc()
        log.warning("hook refused: Kafka did not acknowledge in time", extra=_log_extra(event))
        return _unavailable(
            settings.ingress_retry_after_s, "kafka_timeout", "Kafka did not acknowledge in time"
        )
    except Exception as exc:  # ProduceFailed or anything unforeseen: never a false 200, never a 500.
        metrics.outcome["kafka_failed"].inc()
        level = logging.WARNING if isinstance(exc, ProduceError) else logging.ERROR
        log.log(level, "hook refused: produce failed", extra={**_log_extra(event), "error": repr(exc)})
        return _unavailable(settings.ingress_retry_after_s, "kafka_failed", "Kafka did not take the record")
    metrics.produce_latency.observe(time.monotonic() - started)
    metrics.outcome["accepted"].inc()
    metrics.accepted_of(account.account).inc()
    state.accepted += 1
    return json_response(
        200,
        {
            "status": "accepted",
            "event_id": event.event_id,
            "order_id": event.order_id,
            "partition": record.partition,
            "offset": record.offset,
        },
    )


def _log_extra(event: InputEvent) -> dict[str, str]:
    """What a refused hook's log line names (built only when one is logged: not on the hot path)."""
    return {"order_id": event.order_id, "state": event.state, "event_id": event.event_id}


async def _read_body(request: web.Request, limit: int, timeout: float) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise _TooLarge
    content = request.content
    if content.is_eof():  # the usual case: a small body arrived with the head, no need to wait
        buffered = content.read_nowait()
        if len(buffered) > limit:
            raise _TooLarge
        return buffered
    async with asyncio.timeout(timeout):
        body = bytearray()
        while True:
            chunk = await content.readany()
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                raise _TooLarge


def _parse(body: bytes) -> tuple[Any, str | None]:
    try:
        return orjson.loads(body), None
    except orjson.JSONDecodeError as exc:
        return None, str(exc)


def _content_type(request: web.Request) -> str | None:
    """The request's media type; None when aiohttp's parser chokes on the header (it raises on some
    malformed parameter lists, e.g. `;0*`): that is a 415, not a 500."""
    try:
        return request.content_type
    except (IndexError, ValueError):
        return None


def _is_ping(payload: Any) -> bool:
    """VTEX's configuration ping is `{"hookConfig": "ping"}`; anything with an OrderId is a hook."""
    # Exactly the documented body (schemas/ingress.openapi.json, Ping): anything else is validated as a
    # hook and rejected with the field at fault, so a malformed ping never passes for a healthy one.
    return isinstance(payload, dict) and payload.get("hookConfig") == "ping" and "OrderId" not in payload


def _ping(state: IngressState, request: web.Request, *, authenticated: bool) -> web.Response:
    state.metrics.outcome["ping" if authenticated else "ping_unauthenticated"].inc()
    allowed, held_back = state.ping_log.allow(time.monotonic())
    if allowed:  # anyone may ping, as often as they like: the log line is throttled, the metric is not
        extra = {"authenticated": authenticated, "remote": request.remote, "not_logged_before": held_back}
        log.info("hook configuration ping", extra=extra)
    return json_response(200, {"status": "pong"})


def _unauthorized(
    state: IngressState, request: web.Request, reason: str | None, payload: Any
) -> web.Response:
    reason = reason or REASON_ORIGIN_MISMATCH
    state.metrics.outcome["unauthorized"].inc()
    state.metrics.auth_failure[reason].inc()
    claimed = None
    if isinstance(payload, dict) and isinstance(payload.get("Origin"), dict):
        account = payload["Origin"].get("Account")
        claimed = account[:_CLAIMED_MAX] if isinstance(account, str) else None
    allowed, held_back = state.auth_log.allow(time.monotonic())
    if allowed:
        # Only the reason, the peer and the claimed account name: never a header value or an app key.
        extra = {"reason": reason, "remote": request.remote, "claimed_account": claimed}
        log.warning("hook unauthorized", extra={**extra, "not_logged_before": held_back})
    return error_response(
        401,
        "unauthorized",
        "the hook's secret header and Origin.Account/Origin.Key must match a configured account",
    )


def _unavailable(retry_after: int, code: str, message: str) -> web.Response:
    return error_response(503, code, message, retry_after=retry_after)


def _mark_received(state: IngressState, account: HookAccount) -> None:
    state.metrics.mark_hook(account.account, time.time())


def _violation_field(payload: Any, exc: SchemaViolation) -> str:
    """Name the field at fault; for a missing property, the first one missing rather than its parent."""
    match = _MISSING_RE.search(str(exc))
    if match is None:
        return exc.path
    target = payload
    prefix = "" if exc.path == "$" else exc.path
    for part in prefix.split(".") if prefix else []:
        target = target.get(part) if isinstance(target, dict) else None
    names = [n.strip().strip("'\"") for n in match.group(1).split(",")]
    missing = [n for n in names if not isinstance(target, dict) or n not in target]
    if not missing:
        return exc.path
    return f"{prefix}.{missing[0]}" if prefix else missing[0]


async def handle_healthz(request: web.Request) -> web.Response:
    """Answer 200 while the process serves requests at all."""
    return json_response(200, {"status": "alive"})


async def handle_readyz(request: web.Request) -> web.Response:
    """Answer 200 when a producer is connected and the input topic exists, else 503."""
    state = request.app[STATE]
    connected = state.producer.connected
    topic = state.input_topic
    now = time.monotonic()
    if connected and (not state.topic_exists or now - state.topic_checked_at > READY_CACHE_S):
        state.topic_exists = await state.producer.topic_exists(topic)
        state.topic_checked_at = now
    exists = connected and state.topic_exists
    body = {
        "status": "ready" if exists else "not_ready",
        "producer_connected": connected,
        "topic_exists": exists,
    }
    return json_response(200 if exists else 503, body)
