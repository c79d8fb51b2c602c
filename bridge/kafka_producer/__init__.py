"""A bounded, self-healing, idempotent acks=all Kafka producer for every component that writes records.

aiokafka's `AIOKafkaProducer` is the right engine (batching, idempotence, acks=all) but two of its
failure modes would break the promise "an answer within a bound, and never a false success":

* while the broker is down, `send()` and `send_and_wait()` can wait forever and so can `stop()`
  (aio-libs/aiokafka#1101);
* after a broker blip an idempotent producer can hit `OutOfOrderSequenceNumber`: the sender task dies
  and every later record just sits in the accumulator until the process restarts
  (aio-libs/aiokafka#1017).

`ResilientProducer` wraps it, one job per module:

- `producer`: every `send` has a deadline and raises a `ProduceError` (`errors`) instead of hanging;
- `supervisor`: connects in the background, notices a wedged producer and rebuilds it, each instance
  on its own;
- `closing`: a bounded stop, by force when the graceful one hangs (`force_close`);
- `factory` and `config`: how the aiokafka producers are built and bounded. aiokafka's request bound
  (3 s) is kept well below the start bound (10 s), so a start or a metadata refresh that reaches an
  unresponsive broker moves on to the next one in time, and every instance bootstraps from the list
  starting at a different broker.

The names below are re-exported because the ingress, the feed poller, the worker's writers, the CLI
and the tests import them from `bridge.kafka_producer`.
"""

from __future__ import annotations

from bridge.kafka_producer.closing import force_close
from bridge.kafka_producer.config import ProducerConfig, ProducerStats
from bridge.kafka_producer.errors import (
    FATAL_ERRORS,
    ProduceError,
    ProduceFailed,
    ProducerUnavailable,
    ProduceTimeout,
)
from bridge.kafka_producer.factory import KafkaProducerLike, ProducerFactory
from bridge.kafka_producer.producer import ResilientProducer

__all__ = [
    "FATAL_ERRORS",
    "KafkaProducerLike",
    "ProduceError",
    "ProduceFailed",
    "ProduceTimeout",
    "ProducerConfig",
    "ProducerFactory",
    "ProducerStats",
    "ProducerUnavailable",
    "ResilientProducer",
    "force_close",
]
