"""`/_sim/*`: knobs and counters of a running simulator for other processes (demo, chaos runs).

Not a VTEX API: no credentials (the simulator listens on loopback only).
- `GET/POST /_sim/controls`: read / change the runtime knobs (partial JSON object; 400 on bad values).
- `GET /_sim/stats`: hook sender counts, orders, transitions, feed depth, OMS counters.
- `GET /_sim/deliveries[?outcome=accepted|dropped|pending][&after=SEQ][&limit=N]`: the sender's kept
  records with a seq above `after`, at most `limit` (default 10,000); a full page carries `X-Next-After`.
- `GET /_sim/accepted`: event ids (and payloads) the receiver accepted.
- `POST /_sim/workload`: `{"orders", "seed"?, "rate_per_s"?, "mix"?}` starts driving a workload (202).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from simulator.controls import InvalidControl
from simulator.errors import error_response
from simulator.http_util import json_body, sim_of
from simulator.workload import generate_workload

routes = web.RouteTableDef()
DELIVERIES_PAGE: Final = 10_000
MAX_DELIVERIES_PAGE: Final = 50_000


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
    """One page of the kept delivery records, oldest first; `X-Next-After` names the next page's cursor."""
    outcome = request.query.get("outcome")
    after, limit = request.query.get("after", "-1"), request.query.get("limit", str(DELIVERIES_PAGE))
    if not after.lstrip("-").isdigit() or int(after) < -1:
        return error_response(400, "after must be a delivery seq (an integer >= -1)")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_DELIVERIES_PAGE:
        return error_response(400, f"limit must be an integer between 1 and {MAX_DELIVERIES_PAGE}")
    records = sim_of(request).sender.records
    page: list[dict[str, Any]] = []
    if records:
        # Seqs are consecutive in the ring, so the page's start is found without a scan.
        start = max(0, int(after) + 1 - records[0].seq)
        for record in itertools.islice(records, start, None):
            if outcome is None or record.outcome == outcome:
                page.append(record.to_json())
                if len(page) == int(limit):
                    break
    headers = {}
    if len(page) == int(limit) and page[-1]["seq"] < records[-1].seq:
        headers["X-Next-After"] = str(page[-1]["seq"])
    return web.json_response(page, headers=headers)


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
