"""Per-order OMS faults: one order that OMS fails for while it serves every other (chaos `poison-*`).

`Controls.oms_poison` maps an order id to a mode: `"500"` answers 500 every time, `"hang"` hangs for
`oms_timeout_hang_s` then answers 504, `"oversized"` serves the order padded past 1 MB (an
`openTextField` of `OVERSIZED_BYTES`), which no downstream topic with Kafka's default limit can hold.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from simulator.context import Simulator
from simulator.errors import error_response

MODES: Final = ("500", "hang", "oversized")
#: Padding of an oversized order: above Kafka's default `max.message.bytes` (1,048,588).
OVERSIZED_BYTES: Final = 1_200_000


async def poisoned(sim: Simulator, order_id: str, mode: str) -> web.Response | None:
    """Answer the poisoned read of `order_id`; None when the order is unknown (a plain 404 follows)."""
    sim.counters[f"oms_poison_{mode}"] += 1
    if mode == "500":
        return error_response(500, "Internal Server Error")
    if mode == "hang":
        await asyncio.sleep(sim.config.oms_timeout_hang_s)
        return error_response(504, "Gateway Timeout")
    order = sim.state.get_order(order_id)
    if order is None:
        return None
    return web.json_response({**order, "openTextField": {"value": "x" * OVERSIZED_BYTES}})
