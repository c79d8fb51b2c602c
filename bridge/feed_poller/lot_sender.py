"""Producing one lot: every record acknowledged or an exception, one order's records in feed order.

Orders are sent in parallel, but the records of one order (one key) keep their read order, within a
lot and across the concurrent lots the poller keeps in flight: a lot's record waits for the previous
lot's record of the same order to be acknowledged. Turns are taken before the first await, so they
follow the order in which lots came back from VTEX.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from bridge.feed_poller.metrics import AccountPollerMetrics
from bridge.feed_poller.records import FeedRecord
from bridge.tracing import Tracing


class RecordSink(Protocol):
    """The part of `ResilientProducer` the poller uses: one acknowledged record, or an exception."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        timeout: float,
    ) -> Any: ...


class LotSender:
    """Sends lots of records to a sink, keeping per-order-key order across concurrent lots."""

    def __init__(
        self, sink: RecordSink, tracing: Tracing, timeout_s: float, metrics: AccountPollerMetrics
    ) -> None:
        self._sink = sink
        self._tracing = tracing
        self._timeout_s = timeout_s
        self._metrics = metrics
        #: Per order key, the send of the newest record in flight (a later lot's record waits for it).
        self._tails: dict[bytes, asyncio.Future[None]] = {}

    async def send_all(self, records: list[FeedRecord]) -> None:
        """Produce every record; one order's records in feed order, orders in parallel; all or raise."""
        by_key: dict[bytes, list[FeedRecord]] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record)
        # Taken before the first await, so turns follow the order in which lots came back from VTEX.
        turns = {key: self._take_turn(key) for key in by_key}

        async def send_in_order(key: bytes, group: list[FeedRecord]) -> None:
            previous, mine = turns[key]
            try:
                if previous is not None:
                    await asyncio.shield(previous)
                await send_group(group)
            finally:
                self._end_turn(key, mine)

        async def send_group(group: list[FeedRecord]) -> None:
            for record in group:
                # With tracing on, each event starts its trace here: a producer span whose context the
                # record carries to the worker (docs/tracing.md).
                send = self._sink.send if not self._tracing.enabled else self._send_traced
                await send(
                    record.topic,
                    record.key,
                    record.value,
                    record.headers,
                    timeout=self._timeout_s,
                )
                if record.event_id is None:
                    self._metrics.items_dead_lettered.inc()
                else:
                    self._metrics.records_produced.inc()

        try:
            outcomes = await asyncio.gather(
                *(send_in_order(k, g) for k, g in by_key.items()), return_exceptions=True
            )
        finally:  # a send cancelled before it started must not leave later lots waiting on its turn
            for key, (_, mine) in turns.items():
                self._end_turn(key, mine)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def _take_turn(self, key: bytes) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        previous = self._tails.get(key)
        self._tails[key] = mine
        return previous, mine

    def _end_turn(self, key: bytes, mine: asyncio.Future[None]) -> None:
        if not mine.done():
            mine.set_result(None)
        if self._tails.get(key) is mine:
            del self._tails[key]

    async def _send_traced(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
        *,
        timeout: float,
    ) -> Any:
        return await self._tracing.send(self._sink.send, topic, key, value, headers, timeout=timeout)
