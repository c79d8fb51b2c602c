"""Feed v3 endpoints: `/api/orders/feed/config` (GET/POST/DELETE) and `/api/orders/feed` (GET/POST).

GET feed returns up to `maxlot` (1-10) visible items and hides them for the visibility timeout; POST
commits them by handle. Both answer 404 when the appKey has no feed (REFERENCE §3-4). The queue key's
case differs in VTEX's own docs, so `MessageRetentionPeriodInSeconds` and the lower-camel form are
both accepted; responses use the lower-camel one.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from simulator.errors import MSG_NOT_FOUND, error_response
from simulator.feed import MAX_LOT, MAX_RETENTION_S
from simulator.filters import FilterError, all_statuses_filter, parse_filter
from simulator.http_util import Reject, authenticate, json_body, sim_of, throttle

routes = web.RouteTableDef()
CONFIG_PATH: Final = "/api/orders/feed/config"
FEED_PATH: Final = "/api/orders/feed"


def _positive_int(queue: dict[str, object], *names: str) -> int:
    for name in names:
        if name in queue:
            value = queue[name]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise Reject(error_response(400, f"queue.{name} must be a positive integer"))
            return value
    raise Reject(error_response(400, f"queue.{names[0]} is required"))


@routes.get(CONFIG_PATH)
async def get_feed_config(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "config")
    feed = sim.state.get_feed(app_key)
    if feed is None:
        return error_response(404, MSG_NOT_FOUND)
    return web.json_response(feed.to_json(sim.clock.now()))


@routes.post(CONFIG_PATH)
async def set_feed_config(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "config")
    body = await json_body(request)
    try:
        flt = all_statuses_filter() if body.get("filter") is None else parse_filter(body["filter"])
    except FilterError as exc:
        return error_response(exc.status, exc.message)
    queue = body.get("queue")
    if not isinstance(queue, dict):
        return error_response(400, "queue must be an object")
    visibility = _positive_int(queue, "visibilityTimeoutInSeconds")
    retention = _positive_int(queue, "MessageRetentionPeriodInSeconds", "messageRetentionPeriodInSeconds")
    if retention > MAX_RETENTION_S:
        return error_response(400, f"MessageRetentionPeriodInSeconds must be at most {MAX_RETENTION_S}")
    feed = sim.state.set_feed(app_key, flt, visibility, retention)
    return web.json_response(feed.to_json(sim.clock.now()))


@routes.delete(CONFIG_PATH)
async def delete_feed_config(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "config")
    if sim.state.get_feed(app_key) is None:
        return error_response(404, MSG_NOT_FOUND)
    del sim.state.feeds[app_key]
    return web.Response(status=200)


@routes.get(FEED_PATH)
async def get_feed_items(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "feed")
    raw = request.query.get("maxlot")
    if raw is None or not raw.isdigit() or not 1 <= int(raw) <= MAX_LOT:
        return error_response(400, f"maxlot must be an integer between 1 and {MAX_LOT}")
    feed = sim.state.get_feed(app_key)
    if feed is None:
        return error_response(404, MSG_NOT_FOUND)
    items = feed.queue.receive(int(raw), feed.visibility_timeout_s, sim.clock.now())
    sim.counters["feed_items_read"] += len(items)
    return web.json_response(items)


@routes.post(FEED_PATH)
async def commit_feed_items(request: web.Request) -> web.Response:
    sim = sim_of(request)
    app_key = authenticate(request)
    throttle(request, "feed")
    body = await json_body(request)
    handles = body.get("handles")
    if not isinstance(handles, list) or not all(isinstance(h, str) for h in handles):
        return error_response(400, "handles must be an array of strings")
    feed = sim.state.get_feed(app_key)
    if feed is None:
        return error_response(404, MSG_NOT_FOUND)
    sim.counters["feed_items_committed"] += feed.queue.commit(handles)
    return web.Response(status=200)
