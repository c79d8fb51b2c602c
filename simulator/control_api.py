"""`/_sim/*`: knobs and counters of a running simulator for other processes (demo, chaos runs).

Not a VTEX API: no credentials (the simulator listens on loopback only).
- `GET/POST /_sim/controls`: read / change the runtime knobs (partial JSON object; 400 on bad values).
- `GET /_sim/stats`: hook sender counts, orders, transitions, feed depth, OMS counters.
- `GET /_sim/deliveries[?outcome=accepted|dropped|pending]`: the sender's records.
- `GET /_sim/accepted`: event ids (and payloads) the receiver accepted.
- `POST /_sim/workload`: `{"orders", "seed"?, "rate_per_s"?, "mix"?}` starts driving a workload (202).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from simulator.controls import InvalidControl
from simulator.errors import error_response
from simulator.http_util import json_body, sim_of
from simulator.workload import generate_workload

routes = web.RouteTableDef()


@routes.get("/_sim/controls")
async def get_controls(request: web.Request) -> web.Response:
    return web.json_response(sim_of(request).controls.as_dict())


@routes.post("/_sim/controls")
async def set_controls(request: web.Request) -> web.Response:
    controls = sim_of(request).controls
    body = await json_body(request)
    try:
        controls.update(body)
    except InvalidControl as exc:
        return error_response(400, str(exc))
    return web.json_response(controls.as_dict())


@routes.get("/_sim/stats")
async def get_stats(request: web.Request) -> web.Response:
    sim = sim_of(request)
    return web.json_response(
        {
            "sender": sim.sender.stats(),
            "orders": len(sim.state.orders),
            "transitions": sim.state.transitions_applied,
            "hooks": sorted(sim.state.hooks),
            "feed_depth": sim.state.feed_depth(),
            "counters": dict(sim.counters),
        }
    )


@routes.get("/_sim/deliveries")
async def get_deliveries(request: web.Request) -> web.Response:
    outcome = request.query.get("outcome")
    records = sim_of(request).sender.records
    return web.json_response([r.to_json() for r in records if outcome is None or r.outcome == outcome])


@routes.get("/_sim/accepted")
async def get_accepted(request: web.Request) -> web.Response:
    accepted = sim_of(request).sender.accepted_events()
    return web.json_response({"event_ids": sorted(accepted.event_ids), "payloads": list(accepted.payloads)})


@routes.post("/_sim/workload")
async def start_workload(request: web.Request) -> web.Response:
    sim = sim_of(request)
    body = await json_body(request)
    orders, seed, rate, mix = (
        body.get("orders"),
        body.get("seed", sim.config.seed),
        body.get("rate_per_s"),
        body.get("mix"),
    )
    if isinstance(orders, bool) or not isinstance(orders, int) or not 0 <= orders <= 1_000_000:
        return error_response(400, "orders must be an integer between 0 and 1000000")
    if isinstance(seed, bool) or not isinstance(seed, int):
        return error_response(400, "seed must be an integer")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 0):
        return error_response(400, "rate_per_s must be a non-negative number")
    if mix is not None and not (
        isinstance(mix, dict) and all(isinstance(v, (int, float)) for v in mix.values())
    ):
        return error_response(400, "mix must map lifecycle kinds to weights")
    try:
        workload = generate_workload(seed, orders, mix=mix, start=datetime.now(UTC))
    except ValueError as exc:
        return error_response(400, str(exc))
    sim.sender.start(workload, None if rate is None else float(rate))
    return web.json_response({"orders": orders, "transitions": len(workload)}, status=202)
