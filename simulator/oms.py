"""`GET /api/oms/pvt/orders/{orderId}`: the OMS order document, with throttling and injected faults.

Order of checks: credentials (401/403), the per-account limit (429 + Retry-After, REFERENCE §1: 6000
requests per minute), then the chaos knobs of `Controls` (latency, a per-order poison of
`simulator.poison`, random 429, 5xx, hang-then-504), then the order itself (404 when unknown). Ids may
be `seq{sequence}` as VTEX allows.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from simulator.errors import MSG_ORDER_NOT_FOUND, error_response, too_many_requests
from simulator.http_util import authenticate, sim_of, throttle
from simulator.poison import poisoned

routes = web.RouteTableDef()


@routes.get("/api/oms/pvt/orders/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    sim = sim_of(request)
    authenticate(request)
    throttle(request, "oms")
    controls = sim.controls
    sim.counters["oms_requests"] += 1
    if controls.oms_latency_s > 0:
        await asyncio.sleep(controls.oms_latency_s)
    poison = controls.oms_poison.get(request.match_info["order_id"]) if controls.oms_poison else None
    if poison is not None:
        answer = await poisoned(sim, request.match_info["order_id"], poison)
        if answer is not None:
            return answer
    draw = sim.chaos_rng.random()
    if draw < controls.oms_timeout_rate:
        sim.counters["oms_timeouts"] += 1
        await asyncio.sleep(sim.config.oms_timeout_hang_s)
        return error_response(504, "Gateway Timeout")
    draw -= controls.oms_timeout_rate
    if draw < controls.oms_429_rate:
        sim.counters["oms_429"] += 1
        return too_many_requests(1.0, sim.limiter.per_minute)
    draw -= controls.oms_429_rate
    if draw < controls.oms_5xx_rate:
        sim.counters["oms_5xx"] += 1
        status = 503 if sim.chaos_rng.random() < 0.5 else 500
        return error_response(status, "Service Unavailable" if status == 503 else "Internal Server Error")
    order = sim.state.get_order(request.match_info["order_id"])
    if order is None:
        sim.counters["oms_404"] += 1
        return error_response(404, MSG_ORDER_NOT_FOUND)
    sim.counters["oms_200"] += 1
    return web.json_response(order)
