"""Request and response models of VTEX's hook/feed configuration and Feed v3 APIs, checked locally.

Also the typed errors of those APIs (status, VTEX's message, a hint for the operator, the CLI's exit
code). The checks are VTEX's own rules (REFERENCE.md sections 3-5): mixing FromWorkflow and FromOrders
fields is its 409, a non-https hook URL its 400. Raising the same typed errors as the client
(`bridge.vtex.config_api`) means the CLI reports a local refusal and VTEX's refusal the same way, and a
request VTEX would refuse never leaves the machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from bridge.identifiers import order_id_problem
from bridge.statuses import HOOK_FILTER_STATUSES, is_known

HINT_409: Final = (
    "FromWorkflow and FromOrders filters are mutually exclusive: give either statuses or an "
    "expression (with its disableSingleFire), not both"
)

# --- errors -------------------------------------------------------------------------------------------

#: Exit codes of the control-plane commands, one per thing the operator does differently about it.
EXIT_BAD_REQUEST: Final = 3
EXIT_AUTH: Final = 4
EXIT_NOT_FOUND: Final = 5
EXIT_CONFLICT: Final = 6
EXIT_RATE_LIMITED: Final = 7
EXIT_UNAVAILABLE: Final = 8


class ConfigApiError(Exception):
    """VTEX (or our local check of the same rule) refused a request; `hint` says what to do.

    `status` is VTEX's HTTP status (None for a transport failure); `local` is True when the request was
    refused before being sent because VTEX would refuse it with that status.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, status: int | None, hint: str, local: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.hint = hint
        self.local = local

    def user_message(self) -> str:
        """Return the two lines the CLI prints: what happened, then what to do."""
        return f"{self}\nhint: {self.hint}"


class VtexBadRequest(ConfigApiError):
    """400: e.g. a non-https hook URL or a hook URL that did not answer VTEX's ping."""

    exit_code = EXIT_BAD_REQUEST


class VtexAuthError(ConfigApiError):
    """401/403: wrong credentials, or a role without "Feed v3 and Hook Admin"."""

    exit_code = EXIT_AUTH


class VtexNotFound(ConfigApiError):
    """404: no hook or feed is configured for this appKey."""

    exit_code = EXIT_NOT_FOUND


class VtexConflict(ConfigApiError):
    """409: FromWorkflow and FromOrders fields mixed in one filter."""

    exit_code = EXIT_CONFLICT


class VtexRateLimited(ConfigApiError):
    """429: throttled; `retry_after` holds VTEX's Retry-After in seconds when it sent one."""

    exit_code = EXIT_RATE_LIMITED

    def __init__(self, message: str, *, status: int | None, hint: str, retry_after: float | None) -> None:
        super().__init__(message, status=status, hint=hint)
        self.retry_after = retry_after


class VtexUnavailable(ConfigApiError):
    """5xx, a timeout or a connection failure: nothing is wrong with the request, retry later."""

    exit_code = EXIT_UNAVAILABLE


# --- request models (validated locally with VTEX's own rules) -------------------------------------------

FROM_WORKFLOW: Final = "FromWorkflow"
FROM_ORDERS: Final = "FromOrders"
#: VTEX accepts at most 10 items per Feed v3 read (REFERENCE.md section 3).
MAX_LOT: Final = 10
#: VTEX's maximum retention of a feed message: 14 days (REFERENCE.md section 4).
MAX_RETENTION_S: Final = 1_209_600


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    """FromWorkflow: an event for every change to one of `statuses`."""

    statuses: tuple[str, ...]
    type: Literal["FromWorkflow"] = FROM_WORKFLOW

    def to_json(self) -> dict[str, Any]:
        return {"type": FROM_WORKFLOW, "status": list(self.statuses)}


@dataclass(frozen=True, slots=True)
class OrdersFilter:
    """FromOrders: an event when the order JSON matches the JSONata `expression`."""

    expression: str
    #: False (recommended): an order fires once after it matches; True: on every change while it matches.
    disable_single_fire: bool = False
    type: Literal["FromOrders"] = FROM_ORDERS

    def to_json(self) -> dict[str, Any]:
        return {
            "type": FROM_ORDERS,
            "expression": self.expression,
            "disableSingleFire": self.disable_single_fire,
        }


Filter = WorkflowFilter | OrdersFilter


def _conflict(message: str) -> VtexConflict:
    return VtexConflict(message, status=409, hint=HINT_409, local=True)


def _bad_request(message: str, hint: str) -> VtexBadRequest:
    return VtexBadRequest(message, status=400, hint=hint, local=True)


def build_filter(
    *,
    filter_type: str | None = None,
    statuses: Sequence[str] = (),
    expression: str | None = None,
    disable_single_fire: bool | None = None,
) -> Filter:
    """Return the filter the arguments describe; raise what VTEX would for a mixed or empty one.

    Mixing FromWorkflow's `status` with FromOrders' `expression`/`disableSingleFire` is VTEX's 409
    (REFERENCE.md section 4); a filter with neither is refused like a 400.
    """
    wanted = list(dict.fromkeys(s.strip() for s in statuses if s.strip()))
    has_orders_fields = expression is not None or disable_single_fire is not None
    if filter_type is None:
        if wanted and has_orders_fields:
            raise _conflict(
                "filter mixes FromWorkflow statuses with a FromOrders expression/disableSingleFire"
            )
        filter_type = FROM_ORDERS if has_orders_fields else FROM_WORKFLOW
    if filter_type == FROM_WORKFLOW:
        if has_orders_fields:
            raise _conflict("a FromWorkflow filter cannot carry expression or disableSingleFire")
        if not wanted:
            raise _bad_request("a FromWorkflow filter needs at least one status", "give --status")
        return WorkflowFilter(tuple(wanted))
    if filter_type == FROM_ORDERS:
        if wanted:
            raise _conflict("a FromOrders filter cannot carry status")
        if not expression or not expression.strip():
            raise _bad_request("a FromOrders filter needs a JSONata expression", "give --expression")
        return OrdersFilter(expression, bool(disable_single_fire))
    raise _bad_request(f"unknown filter type {filter_type!r}", f"use {FROM_WORKFLOW} or {FROM_ORDERS}")


def filter_from_json(data: Any) -> Filter:
    """Return the filter of a VTEX `filter` object (from a GET or a file), with the same checks."""
    if not isinstance(data, Mapping):
        raise _bad_request("filter must be a JSON object", "see REFERENCE.md section 4")
    status = data.get("status")
    if status is not None and not (isinstance(status, list) and all(isinstance(s, str) for s in status)):
        raise _bad_request("filter.status must be a list of strings", "see REFERENCE.md section 4")
    dsf = data.get("disableSingleFire")
    return build_filter(
        filter_type=data.get("type"),
        statuses=status or (),
        expression=data.get("expression"),
        disable_single_fire=None if dsf is None else bool(dsf),
    )


def status_warnings(statuses: Sequence[str], *, for_hook: bool) -> list[str]:
    """Return one warning per status VTEX will probably never match (typos, undocumented names)."""
    warnings = []
    for status in statuses:
        if not is_known(status):
            warnings.append(f"'{status}' is not a known VTEX order status; it will never match (typo?)")
        elif for_hook and status not in HOOK_FILTER_STATUSES:
            warnings.append(f"'{status}' is not in VTEX's documented hook filter list; VTEX may ignore it")
    return warnings


def validate_hook_url(url: str, *, allow_http: bool = False) -> str:
    """Return `url` when VTEX would accept it: https only (its 400), http only when explicitly allowed."""
    parts = urlsplit(url)
    if not parts.netloc or parts.scheme not in ("https", "http"):
        raise _bad_request(
            f"hook URL {url!r} is not an absolute http(s) URL", "give the ingress's public URL"
        )
    if parts.scheme == "http" and not allow_http:
        raise _bad_request(
            f"hook URL {url!r}: only https scheme is accepted",
            "VTEX calls https URLs only; --allow-http is for the local simulator/demo",
        )
    return url


@dataclass(frozen=True, slots=True)
class HookConfig:
    """The body of `POST /api/orders/hook/config`; header values are secrets and stay out of repr."""

    filter: Filter
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"filter": self.filter.to_json(), "hook": {"url": self.url, "headers": dict(self.headers)}}


@dataclass(frozen=True, slots=True)
class FeedQueue:
    """How long a read item stays invisible, and how long an uncommitted item is kept."""

    visibility_timeout_s: int = 240
    retention_s: int = 345_600

    def __post_init__(self) -> None:
        if self.visibility_timeout_s <= 0:
            raise _bad_request("visibilityTimeoutInSeconds must be positive", "e.g. 240")
        if not 0 < self.retention_s <= MAX_RETENTION_S:
            raise _bad_request(
                f"messageRetentionPeriodInSeconds must be within 1..{MAX_RETENTION_S} (14 days)",
                "e.g. 345600",
            )

    def to_json(self) -> dict[str, int]:
        # The docs spell the second key both ways; we emit the GET example's lower camel (REFERENCE 8.1).
        return {
            "visibilityTimeoutInSeconds": self.visibility_timeout_s,
            "messageRetentionPeriodInSeconds": self.retention_s,
        }


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """The body of `POST /api/orders/feed/config`."""

    filter: Filter
    queue: FeedQueue

    def to_json(self) -> dict[str, Any]:
        return {"filter": self.filter.to_json(), "queue": self.queue.to_json()}


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One Feed v3 item (camelCase keys, REFERENCE.md section 3); `problem` set when it is unusable."""

    #: The receipt that commits the item (a signed token naming the appKey): never in a repr.
    handle: str = field(repr=False)
    event_id: str
    order_id: str
    state: str | None
    last_state: str | None
    last_change: str
    current_change: str | None
    domain: str | None
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)
    problem: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> FeedItem:
        """Parse one item; never raise, so one bad item cannot block the queue (see `problem`)."""
        if not isinstance(data, Mapping):
            return cls("", "", "", None, None, "", None, None, {"value": data}, "item is not an object")
        missing = [k for k in ("handle", "orderId", "lastChange") if not isinstance(data.get(k), str)]

        def opt(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        problem = f"item lacks {', '.join(missing)}" if missing else None
        invalid_id = None if "orderId" in missing else order_id_problem(data["orderId"])
        if problem is None and invalid_id is not None:  # it would steer the worker's OMS call
            problem = f"OrderId {invalid_id}"

        return cls(
            handle=str(data.get("handle") or ""),
            event_id=str(data.get("eventId") or ""),
            order_id=str(data.get("orderId") or ""),
            state=opt("state"),
            last_state=opt("lastState"),
            last_change=str(data.get("lastChange") or ""),
            current_change=opt("currentChange"),
            domain=opt("domain"),
            raw=dict(data),
            problem=problem,
        )
