"""The transactional producer of one partition writer: how it is started, stopped and found fenced.

Failover, as for the ingress's producers (bridge.kafka_producer): each partition's producer is rebuilt
on its own, and its request bound (`REQUEST_TIMEOUT_MS`, 3 s) is well below the bounds of a transaction
step (`worker_produce_timeout_s`) and of a start (`START_TIMEOUT_S`). A request to a frozen broker
times out in time for aiokafka to close that connection, refresh its metadata from another broker and
retry on the new leader (or coordinator) inside the same transaction; a start or a metadata refresh
that reaches the frozen broker (aiokafka shuffles the bootstrap list) moves on to the next one. A
failed producer is not flushed: its transaction is abandoned, so its stop is bounded by
`DISCARD_TIMEOUT_S` and then forced (aiokafka#1101), and the new producer's `init_transactions` fences
it whatever it still holds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, ProducerFenced, TransactionalIdAuthorizationFailed

from bridge.aiokafka_fixes import sender_task, settle_transaction_waiter
from bridge.kafka_config import client_kwargs
from bridge.kafka_producer import force_close
from processors.topic_limits import PRODUCER_MAX_REQUEST_BYTES

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 15.0
STOP_TIMEOUT_S: Final = 10.0
#: aiokafka's bound of one request (produce, AddPartitionsToTxn, EndTxn, metadata). Well below the step
#: and start bounds: a request a frozen broker holds fails, and is retried elsewhere, within them.
REQUEST_TIMEOUT_MS: Final = 3_000
#: How long a failed producer may take to stop before it is closed by force (nothing of it is kept).
DISCARD_TIMEOUT_S: Final = 2.0
#: Bytes of records per partition the producer gathers into one batch. aiokafka's default (16 kB)
#: holds one enriched record (~11 kB), and a full batch makes `send` wait until the sender drains it,
#: which it does for one request per broker at a time: a transaction's records for one partition went
#: out one per round trip. Below the broker's default `message.max.bytes` (1 MB) with room to spare.
MAX_BATCH_BYTES: Final = 512 * 1024

#: Errors meaning another producer with our transactional id took over: the partition is not ours.
FENCED = (ProducerFenced, InvalidProducerEpoch, TransactionalIdAuthorizationFailed)


async def start_producer(bootstrap: str, txn_id: str, produce_timeout_s: float) -> AIOKafkaProducer:
    """Start the transactional producer `txn_id` (its start fences any predecessor with that id)."""
    producer = AIOKafkaProducer(
        **client_kwargs(bootstrap),
        transactional_id=txn_id,
        enable_idempotence=True,
        acks="all",
        # A transaction's records are all appended before the sender runs (no await suspends in
        # between), so they share a batch per partition without any linger; with batches that are
        # never full, a linger would only delay every transaction (twice: records, then timelines).
        linger_ms=0,
        max_batch_size=MAX_BATCH_BYTES,
        # A record larger than a topic's max.message.bytes never gets here (topic_limits); past
        # aiokafka's 1 MB default, a topic whose limit was raised can hold larger orders.
        max_request_size=PRODUCER_MAX_REQUEST_BYTES,
        request_timeout_ms=min(REQUEST_TIMEOUT_MS, int(produce_timeout_s * 1000)),
        # The broker answers CONCURRENT_TRANSACTIONS to a new transaction while the previous one's
        # markers are being written; the default 100 ms backoff would cap each partition at a few
        # transactions per second (the Java client uses 20 ms for this case).
        retry_backoff_ms=10,
    )
    try:
        # aiokafka's start includes init_transactions (FindCoordinator, InitProducerId).
        await asyncio.wait_for(producer.start(), START_TIMEOUT_S)
    except BaseException:
        await stop_producer(producer, DISCARD_TIMEOUT_S)
        raise
    return producer


def fence_error(producer: AIOKafkaProducer) -> BaseException | None:
    """Return the fencing error that killed the producer's sender task, if that is what happened.

    When the sender dies (e.g. ProducerFenced on AddPartitionsToTxn), records sent afterwards never
    complete; the wait times out, and this tells a fenced producer from a slow broker.
    """
    task = sender_task(producer)
    if task is None or not task.done() or task.cancelled():
        return None
    exc = task.exception()
    return exc if isinstance(exc, FENCED) else None


async def stop_producer(producer: AIOKafkaProducer, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop a producer within `timeout_s`, else close it by force (its stop waits for batches that a
    frozen broker holds, aiokafka#1101); a fenced one leaves failed internal futures that must not be
    logged as news."""
    try:
        await asyncio.wait_for(producer.stop(), timeout_s)
    except TimeoutError:
        log.warning("transactional producer did not stop in %ss; closing it by force", timeout_s)
        await force_close(producer)
    finally:
        settle_transaction_waiter(producer)
