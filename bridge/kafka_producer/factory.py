"""The aiokafka producers the supervisor builds: what it needs of one, and how a real one is made.

`KafkaProducerLike` is the narrow surface the wrapper uses, so unit tests substitute scripted fakes.
The real factory makes idempotent acks=all producers and starts each new one's bootstrap at the next
broker in the list, so a frozen first broker holds up no rebuild.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from bridge.kafka_config import client_kwargs
from bridge.kafka_producer.config import ProducerConfig


class KafkaProducerLike(Protocol):
    """The part of `AIOKafkaProducer` the wrapper uses; tests substitute fakes."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def flush(self) -> None: ...
    async def partitions_for(self, topic: str) -> set[int]: ...
    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]: ...


ProducerFactory = Callable[[], KafkaProducerLike]


def aiokafka_factory(config: ProducerConfig) -> ProducerFactory:
    """Return a factory of idempotent acks=all producers, each bootstrapping from the next broker."""
    turns = itertools.count()

    def build() -> KafkaProducerLike:
        kwargs = client_kwargs(config.bootstrap_servers)
        # Each new producer starts its bootstrap at another broker: a frozen first one holds none up.
        servers = kwargs["bootstrap_servers"].split(",")
        turn = next(turns) % len(servers)
        kwargs["bootstrap_servers"] = servers[turn:] + servers[:turn]
        producer: KafkaProducerLike = AIOKafkaProducer(
            **kwargs,
            client_id=config.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=config.linger_ms,
            max_batch_size=config.max_batch_size,
            request_timeout_ms=config.request_timeout_ms,
        )
        return producer

    return build
