"""Request plumbing shared by the simulated VTEX endpoints: auth, throttling, JSON bodies, errors.

The middleware turns every unexpected exception and aiohttp's own 404/405 into VTEX-style JSON errors,
so invalid requests get an answer, never a crash or an HTML page.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from simulator.context import SIMULATOR, Simulator
from simulator.errors import MSG_FORBIDDEN, MSG_UNAUTHORIZED, error_response, too_many_requests

log = logging.getLogger(__name__)

APP_KEY_HEADER = "X-VTEX-API-AppKey"
APP_TOKEN_HEADER = "X-VTEX-API-AppToken"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Reject(Exception):
    """Stop handling a request and answer `response` (raised by the checks below)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def sim_of(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


def authenticate(request: web.Request) -> str:
    """Return the caller's appKey; 401 without credentials, 403 with wrong ones."""
    key = request.headers.get(APP_KEY_HEADER)
    token = request.headers.get(APP_TOKEN_HEADER)
    if not key or not token:
        raise Reject(error_response(401, MSG_UNAUTHORIZED))
    expected = sim_of(request).config.credentials().get(key)
    if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
        raise Reject(error_response(403, MSG_FORBIDDEN))
    return key


def throttle(request: web.Request, family: str) -> None:
    """Apply the per-account limit of one API family (oms, config, feed): 429 + Retry-After."""
    sim = sim_of(request)
    wait = sim.limiter.try_acquire(f"{family}:{sim.config.account}")
    if wait > 0:
        sim.counters[f"{family}_429"] += 1
        raise Reject(too_many_requests(wait, sim.limiter.per_minute))


async def json_body(request: web.Request) -> dict[str, object]:
    """Return the request's JSON object body; 400 when it is missing, not JSON or not an object."""
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Reject(error_response(400, "The request body is not valid JSON")) from None
    if not isinstance(body, dict):
        raise Reject(error_response(400, "The request body must be a JSON object"))
    return body


@web.middleware
async def vtex_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer `Reject`s, aiohttp HTTP errors and crashes with VTEX-style JSON errors."""
    try:
        return await handler(request)
    except Reject as reject:
        return reject.response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(
            exc.status,
            exc.reason,
            headers={"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None,
        )
    except Exception:
        log.exception("simulator handler failed", extra={"path": request.path})
        return error_response(500, "Internal server error")
