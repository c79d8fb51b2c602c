"""This worker's share of each VTEX account's OMS budget: the share of input partitions it owns.

Each account's events spread over every input partition, so a worker owning `n` of `total` partitions
takes `n / total` of every account's calls per second. The share is set at each assignment and never
waits on the cluster: a rebalance callback that held Faust's consumer for the seconds an admin client
needs to connect left a worker with its partitions assigned that never fetched. The share starts from
the best count known (read before, else the declared `input_topic_partitions`) and is corrected in the
background once the input topic's real partition count is read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Final

from bridge.settings import Settings
from bridge.topics.cluster import admin_client
from bridge.vtex.budget import AccountBudget

log = logging.getLogger(__name__)

#: Bound of reading the input topic's partition count for the OMS budget share at a rebalance.
BUDGET_ADMIN_TIMEOUT_S: Final = 10.0


class BudgetShare:
    """Set every account's budget share from the partitions owned; see the module docstring."""

    def __init__(self, settings: Settings, budgets: Mapping[str, AccountBudget]) -> None:
        self._settings = settings
        self._budgets = dict(budgets)
        #: The input topic's partition count as read from the cluster (0 = not read yet).
        self.input_partition_count = 0
        self._owned: set[int] = set()
        #: The background read of the partition count (None: never started).
        self.count_read: asyncio.Task[None] | None = None

    async def share(self, owned: set[int]) -> None:
        """Take the share of `owned` partitions (at once; the real count, when unknown, is read later)."""
        if not self._budgets:
            return
        self._owned = set(owned)
        self.apply(self.input_partition_count or self._settings.input_topic_partitions)
        if not self.input_partition_count and (self.count_read is None or self.count_read.done()):
            self.count_read = asyncio.create_task(self.read_input_partitions())

    def apply(self, total: int) -> None:
        """Take `owned / total` of every account's budget (each account's events spread over all
        partitions, so the same share of each account's budget is this worker's)."""
        total = max(total, max(self._owned, default=-1) + 1)
        for name, budget in self._budgets.items():
            budget.set_share(len(self._owned), total)
            log.info(
                "OMS budget share",
                extra={
                    "account": name,
                    "partitions": len(self._owned),
                    "of": total,
                    "calls_per_s": round(budget.rate(), 2),
                    "account_calls_per_s": budget.account_per_s,
                },
            )

    async def read_input_partitions(self) -> None:
        """Read the input topic's partition count from the cluster once, then correct the share.

        Read once: a topic's partitions only grow through a reshard, which moves the group to a new
        input topic (a new worker process). When it cannot be read, the next rebalance asks again.
        """
        settings = self._settings
        try:
            async with admin_client(settings.kafka_bootstrap_servers, BUDGET_ADMIN_TIMEOUT_S) as admin:
                described = await asyncio.wait_for(
                    admin.describe_topics([settings.input_topic]), BUDGET_ADMIN_TIMEOUT_S
                )
            count = len(described[0]["partitions"]) if described and not described[0]["error_code"] else 0
        except Exception as exc:  # the broker is unreachable: the declared count stays the best guess
            log.warning("could not read the input topic's partitions", extra={"error": repr(exc)})
            return
        if count:
            self.input_partition_count = count
            self.apply(count)

    def cancel(self) -> None:
        """Stop a read still running (the worker stops)."""
        if self.count_read is not None:
            self.count_read.cancel()
