"""JSON response builders of the ingress: one body shape for every error, none naming a secret."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from aiohttp import web

JSON: Final = "application/json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(status: int, body: dict[str, Any], *, retry_after: int | None = None) -> web.Response:
    """Return a JSON response; `retry_after` adds the header VTEX and proxies read on 503."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(status=status, body=orjson.dumps(body), content_type=JSON, headers=headers)


def error_response(
    status: int, code: str, message: str, *, field: str | None = None, retry_after: int | None = None
) -> web.Response:
    """Return `{"error": code, "message": ..., "field": ...}` (field only when one is at fault)."""
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return json_response(status, body, retry_after=retry_after)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer aiohttp's own errors (unknown path 404, wrong method 405, …) in our JSON shape too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
