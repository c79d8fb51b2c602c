"""The Faust app of the processor, built by `create_app(settings)` (no module-level app).

Faust does what it is good at: group membership and partition assignment, fetching the input topic,
committing the offsets of acked messages (only the contiguous acked prefix, see faust
`Consumer._new_offset`), timers and the worker lifecycle (signals, clean shutdown). The agent is thin:
it reads raw records with `stream.noack()` and hands each to the `Runtime` (per-order lanes); an event is
done in its lane only after its downstream records and de-dup state committed in one Kafka transaction,
and its offset is acked to Faust once it and every earlier one of its partition are done
(`processors.ordered_acks`), by offset alone (`faust_adapter.offset_acker`): Faust's event is neither
acked nor kept, so a finished event waiting behind an unfinished one costs a few bytes. Faust's
`concurrency>1` (breaks ordering, faust #606) and its exactly_once mode (#517, #323, #177) are not used;
docs/processor.md explains the design.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from aiohttp import web
from mode import Service

from bridge import aiokafka_fixes, kafka_config
from bridge.settings import Settings
from bridge.tracing import Tracing, setup_tracing
from processors.console.directory import OwnerDirectory
from processors.faust_adapter import (
    bound_final_commit,
    kafka_consumer,
    offset_acker,
    seek_uncommitted_to_start,
)
from processors.faust_monitor import LeanMonitor
from processors.fetch_pause import PartitionPauser
from processors.input_positions import FaustInputPositions
from processors.ordered_acks import OrderedAcks
from processors.runtime import Runtime
from processors.web import build_console_app, build_web_app

log = logging.getLogger(__name__)

WEB_STOP_TIMEOUT_S = 5.0
#: How old the input consumer's view of the partition leaders may get (aiokafka's default: 5 minutes).
#: Kafka moves a frozen broker's leaderships within seconds, but nothing tells a consumer whose fetch to
#: that broker simply hangs: it learns the new leaders at its next refresh. One small metadata request
#: every few seconds per worker bounds that stall (tests/chaos/test_cluster_writer_faults.py).
INPUT_METADATA_MAX_AGE_MS = 5000


def shorten_fetch_wait(app: faust.App, wait_ms: int) -> bool:
    """Set the input consumer's fetch wait (Faust hard-codes 1,500 ms); return whether it was set.

    aiokafka keeps one fetch in flight per broker and leaves out the partitions that still hold
    unconsumed records; the broker then holds that fetch up to this long when the other partitions
    have nothing new. Meanwhile the drained partitions cannot be fetched again, so at a steady
    500 events/s the events waited up to 1.5 s before the worker saw them (docs/performance.md).
    """
    consumer = kafka_consumer(app.consumer)
    if consumer is None:
        return False
    aiokafka_fixes.set_fetch_max_wait(consumer, wait_ms)
    return True


def create_app(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    oms: Any = None,
    clock: Callable[[], float] = time.time,
    tracing: Tracing | None = None,
) -> faust.App:
    """Return a Faust app processing `settings.input_topic`; `app.bridge_runtime` is its `Runtime`.

    `tracing` defaults to `setup_tracing(settings, "worker")` (off unless configured), which the app
    shuts down when it stops; an injected one is the caller's.
    """
    aiokafka_fixes.install()
    kafka_config.install(settings)  # the writers, state loaders and console connect like Faust does
    data_dir = data_dir or Path(".vtex-bridge") / settings.worker_app_id
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.worker_app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=kafka_config.faust_credentials(settings),
        store="memory://",  # Faust holds no table: the de-dup table is ours (processors.state)
        datadir=str(data_dir / "faust"),
        autodiscover=False,
        web_enabled=True,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        topic_partitions=settings.input_topic_partitions,
        topic_allow_declare=True,  # Faust's own assignor-leader topic; ours exist (processors.topics)
        topic_replication_factor=settings.worker_topic_replication,
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.worker_session_timeout_s / 10),
        processing_guarantee="at_least_once",
        stream_wait_empty=False,  # the runtime drains its lanes itself, bounded (Runtime.on_revoked)
        broker_commit_interval=1.0,
        # No Faust table, so no standby to place; with Faust's default of 1 its assignor keeps
        # ceil(partitions / workers) per worker and a joining worker may get nothing (4 partitions,
        # 3 workers: 2/2/0); with 0 it rebalances down to floor(...) and every worker gets some.
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        consumer_metadata_max_age_ms=INPUT_METADATA_MAX_AGE_MS,
        stream_buffer_maxsize=4096,
        producer_acks=-1,
        Monitor=LeanMonitor,
    )
    own_tracing = tracing is None
    tracing = tracing if tracing is not None else setup_tracing(settings, "worker")
    positions = FaustInputPositions(app, settings.input_topic)
    runtime = Runtime(
        settings, data_dir=data_dir / "state", oms=oms, clock=clock, tracing=tracing, positions=positions
    )
    app.bridge_runtime = runtime  # type: ignore[attr-defined]
    owners = OwnerDirectory.from_settings(settings)
    paused: set[int] = set()
    pauser = PartitionPauser(lambda: app.consumer, settings.input_topic, lambda p: acks.paused(p))

    def pause(partition: int) -> None:
        """Stop fetching `partition`: `worker_max_unfinished_per_partition` events were read since its
        oldest unfinished one (a restart would read them all again, from the committed offset)."""
        if partition in paused:
            return
        paused.add(partition)
        pauser.update(partition)
        log.warning(
            "pausing a partition: its oldest event is unfinished and later ones reached the bound",
            extra={"partition": partition, "bound": settings.worker_max_unfinished_per_partition},
        )

    def resume(partition: int) -> None:
        paused.discard(partition)
        pauser.update(partition)
        log.info("resuming a paused partition", extra={"partition": partition})

    acks = OrderedAcks(
        release=offset_acker(app, settings.input_topic),
        limit=settings.worker_max_unfinished_per_partition,
        on_full=pause,
        on_room=resume,
    )
    runtime.metrics.bind_unfinished(acks.oldest_age)
    input_topic = app.topic(
        settings.input_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    async def process(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            message = event.message
            await runtime.submit(
                message.partition,
                message.offset,
                message.key,
                message.value,
                acks.track(message.partition, message.offset),
                runtime.epoch,
                message.headers,
            )

    app.agent(input_topic, name="process")(process)

    def input_partitions(tps: Any) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == settings.input_topic}

    async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        shorten_fetch_wait(app, settings.worker_fetch_max_wait_ms)
        await runtime.start()
        # In the background: a slow rebalance callback leaves Faust's fetcher stalled (Runtime.assign).
        taking = runtime.assign(input_partitions(assigned))
        background.add(taking)  # the loop keeps only weak references to tasks
        taking.add_done_callback(crash_on_failure)
        owners.claim(input_partitions(assigned))  # the console forwards order lookups by these claims

    background: set[asyncio.Future[Any]] = set()

    def crash_on_failure(task: asyncio.Future[Any]) -> None:
        """Crash the worker when taking partitions failed, as a failing rebalance callback did."""
        background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            crash = asyncio.ensure_future(app.crash(task.exception()))  # type: ignore[arg-type]
            background.add(crash)
            crash.add_done_callback(background.discard)

    async def on_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        acks.forget(input_partitions(revoked))
        paused.difference_update(input_partitions(revoked))  # a new assignment starts unpaused
        await runtime.on_revoked(input_partitions(revoked))

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    async def sweep() -> None:
        await runtime.sweep()

    app.timer(settings.worker_dedup_sweep_interval_s, name="dedup-sweep")(sweep)

    runtime.metrics.bind_scaling(
        partition_lag=positions.partition_lags, in_flight_orders_limit=settings.worker_max_in_flight_orders
    )

    class RuntimeWeb(Service):
        """Serves /metrics, /health, /ready and, on its own port, the console; stops the runtime with
        the app."""

        _runner: web.AppRunner | None = None
        _console: web.AppRunner | None = None

        async def on_start(self) -> None:
            bound_final_commit(app, settings.worker_stop_commit_timeout_s)
            seek_uncommitted_to_start(app)
            await runtime.start()
            await owners.start()
            self._runner = web.AppRunner(build_web_app(runtime), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, settings.worker_web_host, settings.worker_web_port)
            await site.start()
            self._console = web.AppRunner(build_console_app(runtime, owners), access_log=None)
            await self._console.setup()
            try:
                await web.TCPSite(self._console, settings.console_host, settings.console_port).start()
            except OSError as exc:  # the worker's job goes on without its console (e.g. the port is taken)
                log.warning(
                    "console not served: cannot listen",
                    extra={"host": settings.console_host, "port": settings.console_port, "error": repr(exc)},
                )

        async def on_stop(self) -> None:
            if self._console is not None:
                await self._console.cleanup()
                self._console = None
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None
            await owners.close()
            await runtime.stop()
            if own_tracing:
                await runtime.tracing.shutdown()

    app.web_server(RuntimeWeb)
    return app
