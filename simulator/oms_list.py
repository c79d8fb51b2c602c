"""`GET /api/oms/pvt/orders`: VTEX's List orders, enough of it for `vtex-bridge backfill --since/--until`.

Only the creation-date filter (`f_creationDate=creationDate:[FROM TO TO]`), ascending order and paging
are served; the summary of each order carries the fields the real list shows most (orderId,
creationDate, status, totalValue, lastChange, sequence). VTEX serves this from a search index that lags
a few minutes; the simulator answers from its current state.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from aiohttp import web

from bridge.timestamps import InvalidTimestamp, canonical_timestamp
from simulator.errors import error_response
from simulator.http_util import authenticate, sim_of, throttle

routes = web.RouteTableDef()

MAX_PER_PAGE: Final = 100
DEFAULT_PER_PAGE: Final = 15
_RANGE: Final = re.compile(r"^creationDate:\[(?P<since>\S+) TO (?P<until>\S+)\]$")


def _summary(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "orderId": order["orderId"],
        "creationDate": order.get("creationDate"),
        "lastChange": order.get("lastChange"),
        "status": order.get("status"),
        "statusDescription": order.get("statusDescription"),
        "totalValue": order.get("value"),
        "sequence": order.get("sequence"),
        "origin": order.get("origin"),
        "hostname": order.get("hostname"),
    }


@routes.get("/api/oms/pvt/orders")
async def list_orders(request: web.Request) -> web.Response:
    sim = sim_of(request)
    authenticate(request)
    throttle(request, "oms")
    try:
        page = int(request.query.get("page", "1"))
        per_page = int(request.query.get("per_page", str(DEFAULT_PER_PAGE)))
    except ValueError:
        return error_response(400, "page and per_page must be integers")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        return error_response(400, f"page must be >= 1 and per_page within 1..{MAX_PER_PAGE}")
    orders = list(sim.state.orders.values())
    window = request.query.get("f_creationDate")
    if window is not None:
        match = _RANGE.match(window)
        if match is None:
            return error_response(400, "f_creationDate must read creationDate:[FROM TO UNTIL]")
        try:
            since, until = canonical_timestamp(match["since"]), canonical_timestamp(match["until"])
        except InvalidTimestamp as exc:
            return error_response(400, str(exc))
        orders = [o for o in orders if since <= canonical_timestamp(str(o["creationDate"])) <= until]
    orders.sort(key=lambda o: (canonical_timestamp(str(o["creationDate"])), o["orderId"]))
    total = len(orders)
    chunk = orders[(page - 1) * per_page : page * per_page]
    return web.json_response(
        {
            "list": [_summary(o) for o in chunk],
            "facets": [],
            "paging": {
                "total": total,
                "pages": math.ceil(total / per_page),
                "currentPage": page,
                "perPage": per_page,
            },
        }
    )
