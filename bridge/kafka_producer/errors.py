"""What a send can raise instead of an acknowledgement, and which aiokafka errors end a producer.

Callers (the ingress answers 503/504, the feed poller retries) only ever see a `ProduceError`: no
operation reports success without the broker's acknowledgement.
"""

from __future__ import annotations

from typing import Final

from aiokafka.errors import (
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)

#: Errors after which an idempotent producer never recovers by itself (aiokafka#1017).
FATAL_ERRORS: Final[tuple[type[BaseException], ...]] = (
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
    ProducerClosed,
)


class ProduceError(Exception):
    """A record was not acknowledged by Kafka; callers must not report success."""


class ProduceTimeout(ProduceError):
    """No acknowledgement within the deadline; the record may or may not reach Kafka later."""


class ProduceFailed(ProduceError):
    """Kafka or the client rejected the record (the cause is chained)."""


class ProducerUnavailable(ProduceError):
    """No connected producer right now (starting, reconnecting or stopped): nothing was sent."""
