"""The processor's moving parts for one worker, wired together, independent of Faust's API.

`Runtime` owns the OMS clients (one per VTEX account of the registry, `bridge.accounts`), the per-order
lanes, the pipeline, and one `PartitionWriter` (producer + state) per assigned input partition. The
Faust app (`processors.app`) only feeds it: `submit` for each input record, `on_assigned`/`on_revoked`
from the rebalance signals, `sweep` from a timer. Keeping this apart from Faust keeps the agent thin
and lets the same code run under a plain consumer in benchmarks.

What is left here is the wiring and the order of a rebalance (assignment, revocation, stop); each
other job is its own module, handed what it needs when it is built: `processors.partition_writers`
(the assigned partitions' writers: open, retake, heal, close), `processors.input_positions` (where the
input consumer stands), `processors.epochs` (which assignment a record belongs to),
`processors.writer_factory` (opening a writer), `processors.budget_share` (the OMS budget share),
`processors.sweeps` (the TTL sweeps), `processors.linger` (the transaction linger) and
`processors.account_load` (per-account gauges).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from bridge.accounts import AccountRegistry, order_key, split_order_key
from bridge.events import InvalidEvent, decode_input_event
from bridge.settings import Settings
from bridge.tracing import DISABLED, Tracing
from bridge.vtex.budget import AccountBudget
from bridge.vtex.oms import OmsClient, OmsClients
from processors.account_load import AccountLoad
from processors.budget_share import BudgetShare
from processors.cpu_load import CpuLoad
from processors.epochs import Epochs
from processors.input_positions import NO_CONSUMER, InputPositions, unread_events
from processors.lanes import LaneScheduler, LanesClosed
from processors.linger import TxnLinger
from processors.metrics import ProcessorMetrics
from processors.parked import Ack
from processors.parking import Parking
from processors.partition_writers import PartitionWriters
from processors.pending import pending_view
from processors.pipeline import OrderReader, Pipeline
from processors.rocks import RocksMemory
from processors.routing import router_for
from processors.state import is_rocks
from processors.sweeps import Sweeper
from processors.timeline_store import TimelineStore
from processors.topic_limits import TopicLimits, cluster_describe
from processors.work import Work
from processors.writer import PartitionWriter
from processors.writer_factory import LOAD_TIMEOUT_S, WriterFactory

log = logging.getLogger(__name__)

#: How long a revocation waits for in-flight batches of the revoked partitions before abandoning them
#: (they stay unacked and the next owner reprocesses them; the de-dup state makes that harmless).
REVOKE_DRAIN_S: Final = 5.0
#: Records of a partition in Kafka beyond the last one handed to the lanes that make it "behind": its
#: writer then waits `worker_txn_linger_backlog_ms` for larger transactions. Caught up at hundreds of
#: events/s, fetched-but-not-yet-submitted records stay far below this.
BEHIND_RECORDS: Final = 100


class Runtime:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: Path,
        oms: OrderReader | None = None,
        clock: Callable[[], float] = time.time,
        tracing: Tracing = DISABLED,
        accounts: AccountRegistry | None = None,
        positions: InputPositions = NO_CONSUMER,
    ) -> None:
        """`oms`: one reader (tests, benchmarks) serving the default account only; otherwise one OMS
        client per account of `accounts` (default: the settings' registry; raises
        `AccountsConfigError` when it is unusable or an account lacks its app token). `positions`:
        where the input consumer stands (`processors.input_positions`)."""
        self.settings = settings
        self.tracing = tracing
        self.accounts = accounts if accounts is not None else AccountRegistry.from_settings(settings)
        self.default_account = self.accounts.default.name
        self.metrics = ProcessorMetrics(settings.oms_rate_limit_per_s, self.default_account)
        self.clients: OmsClients | None = None
        readers: dict[str, OrderReader]
        if oms is None:
            self.accounts.require_app_tokens()
            self.clients = OmsClients(self.accounts, settings, self.metrics.oms_observer)
            readers = dict(self.clients)
            oms = readers[self.default_account]
        else:
            readers = {self.default_account: oms}
        #: The default account's reader (the one reader when injected).
        self.oms: OrderReader = oms
        #: Each account's OMS budget here (the injected reader's, when it is an `OmsClient`).
        self._budgets: dict[str, AccountBudget] = {
            name: reader.budget for name, reader in readers.items() if isinstance(reader, OmsClient)
        }
        self.router = router_for(settings, self.accounts.names())
        self._clock = clock
        self._data_dir = data_dir
        #: One memory budget for every RocksDB database this worker opens (None: the memory store).
        self.rocks = RocksMemory.from_settings(settings) if is_rocks(settings.worker_store) else None
        if self.rocks is not None:
            self.metrics.registry.register(self.rocks)
        self._factory = WriterFactory(
            settings, data_dir=data_dir, rocks=self.rocks, metrics=self.metrics, linger_s=self._txn_linger_s
        )
        self.epochs = Epochs()
        #: Faust may signal a revocation while the previous assignment is still being handled.
        self._rebalance_lock = asyncio.Lock()
        self.partitions = PartitionWriters(self._factory, self._rebalance_lock)
        #: This worker's share of each account's OMS budget, set at every assignment.
        self.budget_share = BudgetShare(settings, self._budgets)
        self.pipeline = Pipeline(
            settings,
            oms=self.oms,
            router=self.router,
            metrics=self.metrics,
            writer_for=self.partitions.writer_for,
            clock=clock,
            tracing=tracing,
            limits=TopicLimits(cluster_describe(settings.kafka_bootstrap_servers)),
            readers=readers,
            default_account=self.default_account,
            oms_urls={account.name: account.base_url for account in self.accounts},
        )
        per_account = settings.worker_max_in_flight_orders_per_account or max(
            1, settings.worker_max_in_flight_orders // 2
        )
        self.lanes: LaneScheduler[Work] = LaneScheduler(
            self.pipeline.handle,
            max_active=settings.worker_max_in_flight_orders,
            max_pending=settings.worker_max_pending_events,
            slot_class=self._account_label_of,
            max_active_per_class=per_account if len(self.accounts) > 1 else None,
        )
        self.parking = Parking(
            self.lanes,
            accounts=len(self.accounts),
            bound=settings.worker_max_pending_events_per_account
            or settings.worker_max_pending_events // max(1, len(self.accounts)),
            topic=settings.input_topic,
            bootstrap=settings.kafka_bootstrap_servers,
            resubmit=self._resubmit,
            expired=lambda account: self.metrics.parked_expired.labels(account).inc(),
        )
        self.started = False
        self.positions = positions
        #: Input partition -> the offset last handed to the lanes (with `positions`: is it behind?).
        self._submitted: dict[int, int] = {}
        self.cpu_load = CpuLoad()
        self.linger = TxnLinger(
            settings,
            saturated=lambda: self.lanes.saturated,
            behind=self.behind,
            cpu_busy=lambda: self.cpu_load.busy(),
        )
        if self._budgets:
            self.metrics.bind_budget({name: budget.rate for name, budget in self._budgets.items()})
        load = AccountLoad(self.lanes, self.accounts.names, self._account_label_of)
        self.metrics.bind_account_in_flight(load.in_flight, load.oldest)
        self.metrics.bind_account_parked(lambda: self.parking.events.by_account(self.accounts.names()))
        self.sweeper = Sweeper(
            ttl_s=settings.worker_dedup_ttl_s,
            clock=clock,
            writers=self.partitions.ready_writers,
            busy=self.lanes.has_lane,
            swept=lambda: self.pipeline.waits.prune(self.lanes.has_lane),  # abandoned lanes' waits
        )
        for name in self.accounts.names():  # every account's series exists from the start (alerts)
            self.metrics.account_halted.labels(name).set(0)
            self.metrics.parked_expired.labels(name)
        self.metrics.bind(
            in_flight=lambda: float(self.lanes.pending),
            lanes=lambda: float(self.lanes.active_lanes),
            state_keys=lambda: float(sum(len(w.state) for w in self.writers.values())),
            lag=lambda: sum(self.positions.partition_lags().values()),
            work_lag=self.work_lag,
        )

    def _account_label_of(self, key: str) -> str:
        """The account (metric label: a configured one or `_unknown`) of an order key."""
        return self.pipeline.account_label(split_order_key(key, self.default_account)[0])

    @property
    def epoch(self) -> int:
        """The current assignment epoch (`processors.epochs`); `submit` drops records of older ones."""
        return self.epochs.current

    async def start(self) -> None:
        if self.clients is not None:
            await self.clients.start()
        self.started = True

    async def stop(self) -> None:
        """Drain briefly, then stop lanes, writers and the OMS client (unfinished events stay unacked)."""
        await self.parking.stop()
        await self.lanes.wait_idle(timeout=REVOKE_DRAIN_S)
        await self.lanes.close()
        self.epochs.move()  # records still waiting for a partition to load give up (unacked)
        self.budget_share.cancel()
        await self.partitions.stop_healing()
        # A rebalance may still be opening writers while the worker stops: let it finish first.
        try:
            await asyncio.wait_for(self._rebalance_lock.acquire(), LOAD_TIMEOUT_S)
            locked = True
        except TimeoutError:
            locked = False
        try:
            await self.partitions.close(list(self.writers))
        finally:
            if locked:
                self._rebalance_lock.release()
        if self.clients is not None:
            await self.clients.close()
        self.started = False

    async def submit(
        self,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        ack: Callable[[], object],
        epoch: int,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> bool:
        """Queue one input record in its order's lane; return False when it was dropped (revoked)."""
        if not self.pipeline.resumed.is_set():
            await self.pipeline.resumed.wait()  # halted on an OMS credentials error: stop pulling
        ready = self.partitions.ready_events.get(partition)
        if ready is None or epoch != self.epoch:
            return False
        if not ready.is_set() and not await self.epochs.wait_ready(ready, epoch):
            return False
        self._submitted[partition] = offset
        lane_key, work = self._work(partition, offset, key, value, ack, headers)
        if self.parking.divert(partition, lane_key, work):
            return True  # set aside by offset, read again when its account has room
        try:
            await self.lanes.submit(lane_key, partition, work)
        except LanesClosed:
            # Stopping while Faust still hands over a fetched record: it stays unacked, so its offset is
            # not committed and the next owner processes it (the de-dup state makes a repeat harmless).
            log.debug("record left unacked: the worker is stopping", extra={"position": work.position})
            return False
        return True

    def _work(
        self,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        ack: Callable[[], object],
        headers: Sequence[tuple[str, bytes]] | None,
    ) -> tuple[str, Work]:
        """Decode one input record into its order's lane key and its `Work`."""
        raw = value or b""
        try:
            event = decode_input_event(raw)
            invalid = None
            lane_key = order_key(event.account, event.order_id, self.default_account)
        except InvalidEvent as exc:
            event, invalid = None, str(exc)
            lane_key = (key or b"").decode(errors="replace") or f"__invalid-p{partition}"
        return lane_key, Work(partition, offset, key, raw, event, invalid, ack, headers)

    async def _resubmit(self, partition: int, record: Any, ack: Ack) -> None:
        """Queue a parked record read again from the input topic in its order's lane."""
        lane_key, work = self._work(partition, record.offset, record.key, record.value, ack, record.headers)
        try:
            await self.lanes.submit(lane_key, partition, work)
        except LanesClosed:
            log.debug("parked record left unacked: the worker is stopping", extra={"position": work.position})

    def assign(self, partitions: Iterable[int]) -> asyncio.Task[None]:
        """Start taking `partitions` (`on_assigned`) in the background and return at once.

        Faust's rebalance callback must return quickly: one that took a few seconds (loading a large
        state partition, or a cluster read) left the worker with its partitions assigned and its fetcher
        never resuming them (faust-streaming 0.15.3; reproduced with a 3 s sleep in the callback). Records
        fetched meanwhile wait in `submit` for their partition's ready event, created here before the
        callback returns, so nothing is dropped; a revocation moves the epoch and ends those waits.
        """
        wanted = set(partitions)
        self.partitions.expect(wanted, fresh=True)
        return asyncio.create_task(self.on_assigned(wanted))

    async def on_assigned(self, partitions: Iterable[int]) -> None:
        """Close writers of partitions gone elsewhere; retake the ones still here; open the new ones.

        Opening a writer fences the previous owner and loads the state; retaking keeps the local state
        when the changelog shows nobody else wrote to the partition since (`PartitionWriter.retake`).
        """
        async with self._rebalance_lock:
            await self._on_assigned(set(partitions))

    async def _on_assigned(self, wanted: set[int]) -> None:
        await self.budget_share.share(wanted)
        await self.partitions.close(sorted(set(self.writers) - wanted))
        kept = sorted(wanted & set(self.writers))
        new = sorted(wanted - set(self.writers))
        self.partitions.expect(kept + new, fresh=False)  # `assign` made fresh ones already
        results = await asyncio.gather(
            *(self.partitions.retake(p) for p in kept), *(self.partitions.open(p) for p in new)
        )
        log.info(
            "partitions assigned",
            extra={
                "partitions": sorted(wanted),
                "opened": new,
                "retaken": kept,
                "state_kept": [p for p, k in zip(kept, results, strict=False) if k],
            },
        )

    def work_lag(self) -> float:
        """Events more workers could share: unread ones plus those in the lanes (not the parked ones).

        The consumer lag (end - committed) also counts events a worker holds but no other could take:
        an account's parked events and the finished ones behind them keep the committed offset back for
        as long as its OMS is down, and an autoscaler on that lag would add workers that cannot help.
        """
        lags = self.positions.partition_lags()
        return unread_events(lags, self.positions.highwater, self._submitted) + float(self.lanes.pending)

    def behind(self, partition: int) -> bool:
        """Whether more than `BEHIND_RECORDS` records of `partition` wait in Kafka beyond those submitted."""
        highwater = self.positions.highwater(partition)
        if highwater is None:
            return False
        return highwater - 1 - self._submitted.get(partition, -1) > BEHIND_RECORDS

    def _txn_linger_s(self, partition: int) -> float:
        """How long the writer of `partition` waits for other lanes (`processors.linger`)."""
        return self.linger.seconds(partition)

    @property
    def writers(self) -> dict[int, PartitionWriter]:
        """The assigned partitions' writers (`processors.partition_writers`)."""
        return self.partitions.writers

    def timelines(self, partition: int) -> TimelineStore | None:
        """Return the committed timelines of `partition` when it is assigned here and ready, else None."""
        return self.partitions.timelines(partition)

    def pending(self, key: str, partition: int | None = None) -> list[dict[str, Any]]:
        """Return the order's unfinished events here and what they wait for (`processors.pending`).

        `key`: the order's key (`bridge.accounts.order_key`, as for its timeline); `partition`: its
        input partition, where its account's parked events are counted (they are kept by offset only,
        so which orders they belong to is not known until they are read again). Read-only.
        """
        running, queued = self.lanes.items(key)
        parked = self.parking.summary(partition, self._account_label_of(key)) if partition is not None else []
        return pending_view(running, queued, self.pipeline.waits.get(key), self._clock(), parked=parked)

    def owns(self, partition: int) -> bool:
        """Tell whether `partition` is assigned here and ready."""
        return self.partitions.owns(partition)

    async def on_revoked(self, partitions: Iterable[int]) -> None:
        """Let in-flight batches of `partitions` finish (bounded) and abandon the rest.

        Writers stay open until the assignment that follows: Faust rebalances eagerly (everything is
        revoked, then reassigned), and most partitions come back to the same worker.
        """
        self.epochs.move()
        async with self._rebalance_lock:
            await self._on_revoked(set(partitions))

    async def _on_revoked(self, revoked: set[int]) -> None:
        if not revoked:
            return
        for partition in revoked:
            self.partitions.forget(partition)
        await self.parking.revoke(revoked)
        drained = await self.lanes.wait_idle(revoked, timeout=REVOKE_DRAIN_S)
        if not drained:
            dropped = await self.lanes.abandon(revoked)
            log.warning("abandoned in-flight events of revoked partitions", extra={"events": dropped})

    async def sweep(self) -> int:
        """Expire de-dup and timeline entries older than the TTL (`processors.sweeps`); return keys."""
        return await self.sweeper.sweep()

    def health(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "halted": self.pipeline.halted,
            "halted_accounts": self.pipeline.halted_accounts,
            "accounts": list(self.accounts.names()),
            "partitions": self.partitions.ready_partitions(),
            "in_flight": self.lanes.pending,
            "parked": len(self.parking.events),
            "lanes": self.lanes.active_lanes,
            "state_keys": sum(len(w.state) for w in self.writers.values()),
        }

    def ready(self) -> bool:
        return self.started and not self.pipeline.halted
