"""Closing an aiokafka producer within a bound, by force when its graceful stop hangs (aiokafka#1101).

A producer whose broker is gone can wait forever in `stop()`; every owner (the supervisor retiring a
wedged producer, the worker's partition writers) must still get on with a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from bridge.aiokafka_fixes import sender_of
from bridge.kafka_producer.factory import KafkaProducerLike

#: The package's one logger name, whichever module logs (operators and tests filter on it).
log = logging.getLogger("bridge.kafka_producer")

FORCE_CLOSE_TIMEOUT_S: Final = 2.0


async def close_producer(producer: KafkaProducerLike, timeout: float) -> None:
    """Stop `producer` gracefully within `timeout`, else (or when that fails) close it by force."""
    try:
        await asyncio.wait_for(producer.stop(), timeout)
    except TimeoutError:
        log.warning(
            "kafka producer did not stop within its bound; closing it by force",
            extra={"timeout": timeout},
        )
        await force_close(producer)
    except Exception as exc:
        log.warning("kafka producer stop failed", extra={"error": repr(exc)})
        await force_close(producer)


async def force_close(producer: Any) -> None:
    """Cancel the sender and close the connections when a graceful stop hangs (aiokafka#1101).

    Records still queued in that producer are lost to it; their senders already got (or will get by
    their own deadline) an error, never a success. The partition writers use it too, for a producer
    whose transaction is abandoned anyway (the next producer's `init_transactions` settles it).
    """
    parts: list[Any] = [sender_of(producer), getattr(producer, "client", None)]
    for part in parts:
        if part is None:
            continue
        try:
            await asyncio.wait_for(part.close(), FORCE_CLOSE_TIMEOUT_S)
        except Exception as exc:
            log.warning("forced close of a kafka producer part failed", extra={"error": repr(exc)})
