"""VTEX-style error responses, so clients see the envelopes they will meet in production.

OMS writes `{"error":{"code","message","exception":null}}` (REFERENCE §1, from start-handling); the
hook and feed configuration endpoints document only status codes and messages, so they get the same
envelope with the HTTP status as code.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

MSG_FORBIDDEN: Final = "The credentials are not enabled to access the service"
MSG_UNAUTHORIZED: Final = "Unauthorized: missing X-VTEX-API-AppKey or X-VTEX-API-AppToken"
MSG_NOT_FOUND: Final = "Value not found"
MSG_ORDER_NOT_FOUND: Final = "Order not found"
MSG_TOO_MANY: Final = "Too many requests"
MSG_HTTPS_ONLY: Final = "Only https scheme is accepted"
MSG_UNABLE_TO_CHECK: Final = "Unable to check address"
MSG_FILTER_CONFLICT: Final = (
    "FromWorkflow and FromOrders filters are mutually exclusive: "
    "FromWorkflow takes status only, FromOrders takes expression and disableSingleFire only"
)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, object]:
    """Return the VTEX error envelope."""
    return {"error": {"code": code or str(status), "message": message, "exception": None}}


def error_response(
    status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """Return a JSON error response in the VTEX envelope."""
    return web.json_response(error_body(status, message, code), status=status, headers=headers)


def too_many_requests(retry_after_s: float, limit: int) -> web.Response:
    """Return a 429 with `Retry-After` (whole seconds, at least 1) and the optional rate-limit headers."""
    import math

    wait = max(1, math.ceil(retry_after_s))
    headers = {
        "Retry-After": str(wait),
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(wait),
    }
    return error_response(429, MSG_TOO_MANY, headers=headers)
