"""Keeping simulated orders flowing in the demo: read each account's simulator stats, start a batch
when the previous one is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final

import aiohttp

from bridge.cli.dev import scrape
from bridge.cli.dev.plan import Plan

#: Orders per simulator workload batch; a new batch starts when the previous one is delivered.
BATCH_ORDERS: Final = 40


async def sim_stats(session: aiohttp.ClientSession, plan: Plan) -> dict[str, dict[str, Any] | None]:
    """Return each simulated account's `/_sim/stats` (None where it could not be read)."""
    if len(plan.accounts) == 1:
        return {plan.accounts[0]: await scrape.json_document(session, f"{plan.sim_url}/_sim/stats")}
    return {
        name: await scrape.json_document(session, f"{plan.account_url(name)}/_sim/stats")
        for name in plan.accounts
    }


def summed(stats: dict[str, dict[str, Any] | None]) -> dict[str, Any] | None:
    """The simulator's stats over every account: the hook sender's counts added up."""
    documents = [s for s in stats.values() if s is not None]
    if len(documents) <= 1:
        return documents[0] if documents else None
    sender: dict[str, float] = {}
    for document in documents:
        for key, value in document.get("sender", {}).items():
            if isinstance(value, int | float):
                sender[key] = sender.get(key, 0) + value
    return {"sender": sender, "accounts": len(documents)}


async def top_up_workload(
    session: aiohttp.ClientSession, plan: Plan, sim: dict[str, Any] | None, account: str | None = None
) -> int:
    """Start another batch of orders when the (account's) simulator has nothing left to send; return
    orders started."""
    if sim is None:
        return 0
    sender = sim.get("sender", sim)
    pending = sender.get("pending", 0) if isinstance(sender, dict) else 0
    running = sender.get("running", False) if isinstance(sender, dict) else False
    if pending or running:
        return 0
    body = {"orders": BATCH_ORDERS, "seed": int(time.time()), "rate_per_s": plan.settings.dev_rate_per_s}
    base = plan.sim_url if account is None or len(plan.accounts) == 1 else plan.account_url(account)
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with asyncio.timeout(5), session.post(f"{base}/_sim/workload", json=body) as response:
            if response.status == 202:
                return BATCH_ORDERS
    return 0
