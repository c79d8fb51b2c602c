"""The hook sender: drives workloads through `SimState` and POSTs notifications like VTEX does.

A delivery counts only when the receiver answers 200 within `delivery_timeout_s` (5,000 ms, real time).
Failures are retried on a geometric back-off (`retry_base_s * retry_factor ** n`, VTEX seconds on the
simulator's clock) and dropped after `max_attempts` attempts or `max_retry_age_s` (REFERENCE §5: more than
100 attempts over ~4 days). Delivery is at-least-once: `duplicate_rate` re-sends accepted events and
`reorder_rate` holds an event back until the next one of the same order went out. Events of one order
otherwise leave in lifecycle order (a per-order lock spans each event's first attempt; retries of a
failed event may then land after newer events, as with VTEX).

Every notification is recorded (payload, event id, attempts, outcome), so tests can compare what VTEX
"knows it delivered" with what came out of Kafka: `accepted_events()`. The records sit in a ring of the
last `delivery_records` notifications; the counts (`stats()`) are running totals over all of them, so a
simulator that runs for hours neither grows nor slows down.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections import deque
from typing import Any, Final

import aiohttp
import orjson

from simulator.clock import Clock
from simulator.config import SimConfig
from simulator.controls import Controls
from simulator.deliveries import AcceptedEvents, DeliveryRecord, DeliveryTotals, Outcome
from simulator.event_ids import expected_event_id
from simulator.state import Notification, SimState
from simulator.workload import Transition, Workload

log = logging.getLogger(__name__)

PING_BODY: Final = b'{"hookConfig":"ping"}'
#: How often a paused sender looks whether it was resumed (real seconds).
PAUSE_POLL_S: Final = 0.05


class HookSender:
    """Deliver hook notifications for one simulator; `open()` before use, `close()` after."""

    def __init__(self, state: SimState, controls: Controls, clock: Clock, config: SimConfig) -> None:
        self.state = state
        self.controls = controls
        self.clock = clock
        self.config = config
        #: The newest `config.delivery_records` notifications (older ones only count in `totals`).
        self.records: deque[DeliveryRecord] = deque(maxlen=config.delivery_records)
        self.totals = DeliveryTotals()
        self._rng = random.Random(f"sender:{config.seed}")
        # Fault draws happen in delivery order (not deterministic under concurrency): keep them apart so
        # duplicate and reorder decisions stay a pure function of the seed and the workload.
        self._fault_rng = random.Random(f"faults:{config.seed}")
        self._seq = itertools.count()
        self._held: dict[tuple[str, str], Notification] = {}
        #: One lock per order with notifications in their first attempt, and how many use it (an order's
        #: entry goes when its last user is done, so the map holds in-flight orders only).
        self._order_locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runs: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.max_concurrent_deliveries)
        self._session: aiohttp.ClientSession | None = None
        self.pings = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Open the HTTP session (the app does this on startup)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.config.max_concurrent_deliveries)
            self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        """Cancel runs and deliveries (pending ones stay `pending`) and close the HTTP session."""
        pending = [*self._runs, *self._tasks]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HookSender.open() was not awaited")
        return self._session

    # --- driving workloads -------------------------------------------------------------------
    def emit(self, transition: Transition) -> list[Notification]:
        """Apply one transition to the state and submit the notifications it triggers."""
        notifications = self.state.advance(transition)
        self.submit(notifications)
        return notifications

    async def run(self, workload: Workload, rate_per_s: float | None = None) -> None:
        """Emit every transition of `workload` in time order at `rate_per_s` (0 = flat out)."""
        rate = self.config.rate_per_s if rate_per_s is None else rate_per_s
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, transition in enumerate(workload.transitions()):
            if rate > 0:
                delay = started + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif index % 100 == 0:
                await asyncio.sleep(0)  # let deliveries and HTTP handlers run between bursts
            self.emit(transition)
        self.flush_held()

    def start(self, workload: Workload, rate_per_s: float | None = None) -> asyncio.Task[None]:
        """Run `workload` in the background; `drain()` waits for it."""
        task = asyncio.create_task(self.run(workload, rate_per_s), name="sim-workload")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return task

    async def drain(self, timeout: float) -> None:
        """Wait until runs finished and every delivery is accepted or dropped; raise TimeoutError."""
        async with asyncio.timeout(timeout):
            while self._runs or self._tasks or self._held:
                if self._runs:
                    await asyncio.gather(*self._runs, return_exceptions=True)
                self.flush_held()
                if self._tasks:
                    await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- submitting --------------------------------------------------------------------------
    def submit(self, notifications: list[Notification]) -> None:
        """Queue notifications for delivery, applying the reorder rate."""
        for notification in notifications:
            key = (notification.app_key, str(notification.payload["OrderId"]))
            held = self._held.pop(key, None)
            if held is None and self._rng.random() < self.controls.reorder_rate:
                self._held[key] = notification
                continue
            self._dispatch(notification, duplicate=False)
            if held is not None:
                self._dispatch(held, duplicate=False)

    def flush_held(self) -> None:
        """Send the events held back for reordering whose order had no later event."""
        held, self._held = self._held, {}
        for notification in held.values():
            self._dispatch(notification, duplicate=False)

    def _dispatch(self, notification: Notification, *, duplicate: bool) -> None:
        payload = notification.payload
        record = DeliveryRecord(
            seq=next(self._seq),
            notification=notification,
            event_id=expected_event_id(
                str(payload["OrderId"]), payload.get("State"), str(payload["LastChange"])
            ),
            duplicate=duplicate,
        )
        self.records.append(record)
        self.totals.notifications += 1
        self.totals.duplicates += duplicate
        resend = not duplicate and self._rng.random() < self.controls.duplicate_rate
        key = (notification.app_key, str(payload["OrderId"]))
        lock, users = self._order_locks.get(key) or (asyncio.Lock(), 0)
        self._order_locks[key] = (lock, users + 1)
        task = asyncio.create_task(self._deliver(record, key, lock, resend), name=f"hook-{record.seq}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- delivering --------------------------------------------------------------------------
    async def _deliver(
        self, record: DeliveryRecord, key: tuple[str, str], lock: asyncio.Lock, resend: bool
    ) -> None:
        try:
            await self._deliver_with_retries(record, key, lock, resend)
        except Exception:  # a bug here must not leave drain() waiting on a record forever
            log.exception("hook delivery failed unexpectedly", extra={"event_id": record.event_id})
            record.results.append("internal-error")
            if record.outcome == "pending":
                self._finish(record, "dropped")

    async def _deliver_with_retries(
        self, record: DeliveryRecord, key: tuple[str, str], lock: asyncio.Lock, resend: bool
    ) -> None:
        config = self.config
        try:
            async with lock:  # first attempts of one order leave in submission order
                record.first_attempt_at = self.clock.now()
                accepted = await self._attempt(record)
        finally:
            self._release_order_lock(key)
        while not accepted:
            age = self.clock.now() - (record.first_attempt_at or 0.0)
            if record.attempts >= config.max_attempts or age >= config.max_retry_age_s:
                self._finish(record, "dropped")
                log.warning(
                    "hook event dropped",
                    extra={
                        "order_id": record.payload["OrderId"],
                        "state": record.payload.get("State"),
                        "event_id": record.event_id,
                        "attempts": record.attempts,
                    },
                )
                return
            await self.clock.sleep(config.retry_base_s * config.retry_factor ** (record.attempts - 1))
            accepted = await self._attempt(record)
        self._finish(record, "accepted")
        if resend:
            self._dispatch(record.notification, duplicate=True)

    def _finish(self, record: DeliveryRecord, outcome: Outcome) -> None:
        record.outcome = outcome
        record.finished_at = self.clock.now()
        if outcome == "accepted":
            self.totals.accepted += 1
            self.totals.accepted_events += not record.duplicate
        else:
            self.totals.dropped += 1

    def _release_order_lock(self, key: tuple[str, str]) -> None:
        lock, users = self._order_locks[key]
        if users > 1:
            self._order_locks[key] = (lock, users - 1)
        else:
            del self._order_locks[key]

    async def _attempt(self, record: DeliveryRecord) -> bool:
        while self.controls.hook_paused:
            await asyncio.sleep(PAUSE_POLL_S)
        record.attempts += 1
        self.totals.sent += 1
        self.totals.retried += record.attempts > 1
        if self.controls.hook_failure_rate and self._fault_rng.random() < self.controls.hook_failure_rate:
            record.results.append("injected-failure")
            return False
        notification = record.notification
        headers = {"Content-Type": "application/json", **notification.headers}
        async with self._slots:
            result = await self._post(notification.url, orjson.dumps(notification.payload), headers)
        record.results.append(result)
        return result == "200"

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str:
        """POST once; return the status as text, or why there was none. Only "200" counts."""
        try:
            async with asyncio.timeout(self.config.delivery_timeout_s):
                async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                    await resp.read()
                    return str(resp.status)
        except TimeoutError:
            return "timeout"
        except (aiohttp.ClientError, OSError, ValueError):
            return "connection-error"

    async def ping(self, url: str, headers: dict[str, str]) -> str:
        """POST `{"hookConfig":"ping"}` as VTEX does while saving a hook; return the result text."""
        self.pings += 1
        request_headers = {"Content-Type": "application/json", **headers}
        try:
            async with asyncio.timeout(self.config.ping_timeout_s):
                async with self.session.post(url, data=PING_BODY, headers=request_headers) as resp:
                    await resp.read()
                    return str(resp.status)
        except TimeoutError:
            return "timeout"
        except (aiohttp.ClientError, OSError, ValueError):
            return "connection-error"

    # --- what happened -----------------------------------------------------------------------
    def accepted_events(self) -> AcceptedEvents:
        """The events accepted among the records kept (all of them unless the ring overflowed)."""
        payloads: list[dict[str, Any]] = []
        ids: set[str] = set()
        for record in sorted(
            (r for r in self.records if r.outcome == "accepted"), key=lambda r: r.finished_at or 0.0
        ):
            if record.event_id not in ids:
                ids.add(record.event_id)
                payloads.append(record.payload)
        return AcceptedEvents(tuple(payloads), frozenset(ids))

    def dropped_events(self) -> frozenset[str]:
        """Event ids VTEX gave up on (and never delivered otherwise)."""
        accepted = self.accepted_events().event_ids
        return frozenset(r.event_id for r in self.records if r.outcome == "dropped") - accepted

    def stats(self) -> dict[str, int]:
        """Return the running totals (constant cost: nothing here walks the records)."""
        totals = self.totals
        return {
            "notifications": totals.notifications,
            "sent": totals.sent,
            "accepted": totals.accepted,
            "accepted_events": totals.accepted_events,
            "dropped": totals.dropped,
            "pending": totals.pending,
            "retried": totals.retried,
            "duplicates": totals.duplicates,
            "held": len(self._held),
            "pings": self.pings,
            "running": len(self._runs),
            "records_kept": len(self.records),
        }
