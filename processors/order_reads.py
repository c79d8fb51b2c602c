"""One OMS read of a batch's order, through its account's reader, with the not-found grace.

VTEX may announce an order before OMS serves it, so a 404 is retried (with the batch's backoff) for
`worker_not_found_grace_s` before the events are dead-lettered as `order-not-found`; a non-order answer
is dead-lettered at once (`oms-bad-response`). Any other error propagates to the pipeline's retry loop.
A successful read tells the account's outage rule and lifts the account's halt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from bridge.settings import WorkerSettings
from bridge.vtex.errors import OmsBadResponse, OrderNotFound
from processors.account_readers import AccountReaders, OrderReader
from processors.metrics import ProcessorMetrics
from processors.outcomes import Permanent
from processors.pending import Waits
from processors.retry_budget import RetryBudget
from processors.timeline import BatchHistory
from processors.tracing import OmsSpans


class OrderReads:
    """Read orders for the pipeline; `retried(cause, history)` counts each 404 retry as the batch's."""

    def __init__(
        self,
        settings: WorkerSettings,
        accounts: AccountReaders,
        metrics: ProcessorMetrics,
        *,
        waits: Waits,
        budget: RetryBudget,
        retried: Callable[[str, BatchHistory | None], None],
    ) -> None:
        self._grace_s = settings.worker_not_found_grace_s
        self._accounts = accounts
        self._metrics = metrics
        self._waits = waits
        self._budget = budget
        self._retried = retried

    async def fetch(
        self,
        reader: OrderReader,
        account: str,
        key: str,
        order_id: str,
        spans: OmsSpans | None = None,
        history: BatchHistory | None = None,
    ) -> Mapping[str, Any]:
        """Read the order from its account; 404 is retried within the grace period; other permanent
        errors raise `Permanent`."""
        first = time.monotonic()
        attempt = 0
        while True:
            called = time.monotonic()
            try:
                if spans is None:
                    order = await reader.get_order(order_id)
                else:
                    order = await spans.call(reader.get_order)
            except OrderNotFound as exc:
                if time.monotonic() - first >= self._grace_s:
                    raise Permanent("order-not-found", str(exc)) from exc
                self._retried("oms-404", history)
                attempt += 1
                self._waits.not_found(key, self._grace_s, attempt)
                await asyncio.sleep(self._budget.backoff(attempt))
                continue
            except OmsBadResponse as exc:
                raise Permanent("oms-bad-response", str(exc)) from exc
            self._metrics.oms_fetches.inc()
            self._accounts.rule_of(account).success(key)
            self._accounts.served(account)
            if history is not None:
                history.oms_ms = round((time.monotonic() - called) * 1000.0, 1)
                history.oms_status = str(order.get("status"))
            return order
