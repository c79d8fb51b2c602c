"""`GET/POST/DELETE /api/orders/hook/config`: one hook per appKey, validated as VTEX documents it.

POST checks the filter (400, or 409 when FromWorkflow and FromOrders fields are mixed), then the URL
(https only: 400 "Only https scheme is accepted"; `allow_http_hooks` lets plain http through for loopback
hosts only, `allow_http_hook_hosts` for the host names it lists, e.g. a compose service), then pings the
URL with `{"hookConfig":"ping"}` and the configured headers; anything but a 200 within the ping timeout
refuses the configuration with 400 "Unable to check address" (REFERENCE §5).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from yarl import URL

from simulator.errors import MSG_HTTPS_ONLY, MSG_NOT_FOUND, MSG_UNABLE_TO_CHECK, error_response
from simulator.filters import FilterError, parse_filter
from simulator.http_util import Reject, authenticate, json_body, sim_of, throttle

routes = web.RouteTableDef()
PATH: Final = "/api/orders/hook/config"
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def check_hook_url(raw: object, allow_http: bool, http_hosts: tuple[str, ...] = ()) -> str:
    """Return the hook URL when acceptable; raise `Reject` with VTEX's 400 otherwise.

    Plain http passes for loopback hosts when `allow_http` is on, and for the hosts named in
    `http_hosts` (each named on purpose, like a compose service), never for any other host."""
    if not isinstance(raw, str) or not raw:
        raise Reject(error_response(400, MSG_UNABLE_TO_CHECK))
    try:
        url = URL(raw)
    except ValueError:
        raise Reject(error_response(400, MSG_UNABLE_TO_CHECK)) from None
    if url.scheme == "https" and url.host:
        return raw
    if url.scheme == "http" and allow_http and url.host in LOOPBACK_HOSTS:
        return raw
    if url.scheme == "http" and url.host and url.host in http_hosts:
        return raw
    if url.scheme in ("http", "https") and not url.host:
        raise Reject(error_response(400, MSG_UNABLE_TO_CHECK))
    raise Reject(error_response(400, MSG_HTTPS_ONLY))


def check_headers(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise Reject(error_response(400, "hook.headers must be an object of string values"))
    return dict(raw)


@routes.get(PATH)
async def get_hook(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "config")
    hook = sim.state.get_hook(app_key)
    if hook is None:
        return error_response(404, MSG_NOT_FOUND)
    return web.json_response(hook.to_json(sim.config.account))


@routes.post(PATH)
async def set_hook(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "config")
    body = await json_body(request)
    try:
        flt = parse_filter(body.get("filter"))
    except FilterError as exc:
        return error_response(exc.status, exc.message)
    hook = body.get("hook")
    if not isinstance(hook, dict):
        return error_response(400, "hook must be an object with url and headers")
    url = check_hook_url(hook.get("url"), sim.config.allow_http_hooks, sim.config.allow_http_hook_hosts)
    headers = check_headers(hook.get("headers"))
    result = await sim.sender.ping(url, headers)
    if result != "200":
        sim.counters["hook_ping_failed"] += 1
        return error_response(400, MSG_UNABLE_TO_CHECK)
    config = sim.state.set_hook(app_key, flt, url, headers)
    return web.json_response(config.to_json(sim.config.account))


@routes.delete(PATH)
async def delete_hook(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "config")
    if sim.state.get_hook(app_key) is None:
        return error_response(404, MSG_NOT_FOUND)
    del sim.state.hooks[app_key]
    return web.Response(status=200)
