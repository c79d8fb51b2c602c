"""How long a partition's writer waits for other lanes to join a transaction (the transaction linger).

Every transaction costs several broker round trips and a marker on every partition it wrote, whatever
its size, so on a box the broker shares with the worker fewer, larger transactions mean less CPU per
event; each ms of waiting is a ms of end-to-end latency, though. The policy depends on what limits the
worker right now (`TxnLinger.seconds`). The writer counts the wait from the moment the transaction's
first write was queued (`processors.writer`), so a write that already waited behind the previous commit
is not held for a full linger on top.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from bridge.settings import WorkerSettings

#: Share of one core above which the worker counts as CPU-bound (see `TxnLinger.seconds`).
CPU_BOUND_LOAD: Final = 0.8


class TxnLinger:
    """The linger policy of one worker; callables so it always reads the owner's current parts."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        saturated: Callable[[], bool],
        behind: Callable[[int], bool],
        cpu_busy: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._saturated = saturated
        self._behind = behind
        self._cpu_busy = cpu_busy

    def seconds(self, partition: int) -> float:
        """How long the writer of `partition` waits for other lanes before a transaction.

        Behind (records wait in Kafka) and limited by the worker's one core, larger transactions cost
        the worker and the broker less per event, which leaves more of the core to fetch and process;
        the wait is queueing those events would see anyway. Limited by the lane slots instead (every
        slot busy, the core not), a longer wait would only hold the slots longer: fewer events per
        second when OMS latency bounds each lane, so the wait is short. Caught up with slots free,
        waiting costs latency only, and fewer transactions spare the broker (and the box) enough CPU
        to cut the queueing that makes the tail.
        """
        settings = self._settings
        saturated = self._saturated()
        if self._behind(partition) and (not saturated or self._cpu_busy() >= CPU_BOUND_LOAD):
            return settings.worker_txn_linger_backlog_ms / 1000
        if saturated:
            return settings.worker_txn_linger_saturated_ms / 1000
        return settings.worker_txn_linger_ms / 1000
