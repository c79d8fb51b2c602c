"""Who owns which input partition, as the workers announce it: a compacted one-partition topic.

Why not Faust's group metadata: Faust's own assignor (which hands every member the others'
`canonical_url`) only runs when the app has Faust tables or standby replicas; this worker has neither
(its state is its own, `processors.state`) and runs with `table_standby_replicas=0`, so Faust falls back
to aiokafka's round-robin assignor, which carries no URLs (faust `transport/drivers/aiokafka.py`,
`_create_worker_consumer`).

So each worker, once it holds its partitions, writes one record per assigned input partition to
`<worker_app_id>-console-owners` (compacted, one partition so claims are totally ordered): key =
partition number, value = `{"url": <worker_advertised_url>, "at": epoch seconds}`. The newest claim of a
partition wins: a new owner claims after every rebalance, so an older owner's claim is superseded.
Every worker tails the topic and keeps the map; it also reads the input topic's partition count from
the cluster metadata (the order -> partition computation needs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable
from typing import Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bridge.aiokafka_fixes import client_of
from bridge.cancelling import cancel_all
from bridge.console_client import advertised_url
from bridge.kafka_config import client_kwargs
from bridge.settings import Settings
from bridge.topic_names import owners_topic as owners_topic
from processors.console.ownership import Distribution

log = logging.getLogger(__name__)

CLIENT_TIMEOUT_S: Final = 15.0
FETCH_TIMEOUT_MS: Final = 500
#: How often the input topic's partition count is re-read from the cluster metadata.
METADATA_REFRESH_S: Final = 30.0
BACKOFF_MAX_S: Final = 10.0


class OwnerDirectory:
    """See the module docstring: `claim` after an assignment, `distribution` to look owners up."""

    def __init__(
        self, *, bootstrap: str, topic: str, input_topic: str, own_url: str, replication: int, create: bool
    ) -> None:
        self._bootstrap = bootstrap
        self.topic = topic
        self._input_topic = input_topic
        self.own_url = own_url
        self._replication = replication
        self._create = create
        self._owners: dict[int, tuple[str, float]] = {}
        self._partitions: int | None = None
        self._claims: asyncio.Queue[list[int]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.caught_up = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings) -> OwnerDirectory:
        return cls(
            bootstrap=settings.kafka_bootstrap_servers,
            topic=owners_topic(settings.worker_app_id),
            input_topic=settings.input_topic,
            own_url=advertised_url(settings),
            replication=settings.worker_topic_replication,
            create=settings.worker_create_topics,
        )

    def claim(self, partitions: Iterable[int]) -> None:
        """Announce (in the background, retried) that this worker now owns `partitions`."""
        wanted = sorted(partitions)
        if wanted:
            self._claims.put_nowait(wanted)

    def distribution(self) -> Distribution:
        by_url: dict[str, list[int]] = {}
        for partition, (url, _) in sorted(self._owners.items()):
            by_url.setdefault(url, []).append(partition)
        return {url: {self._input_topic: partitions} for url, partitions in by_url.items()}

    def partition_count(self) -> int | None:
        return self._partitions

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._follow(), name="console-owners:follow"),
                asyncio.create_task(self._announce(), name="console-owners:announce"),
            ]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)

    async def _ensure_topic(self) -> None:
        if not self._create:
            return
        admin = AIOKafkaAdminClient(**client_kwargs(self._bootstrap))
        await asyncio.wait_for(admin.start(), CLIENT_TIMEOUT_S)
        try:
            if self.topic in set(await asyncio.wait_for(admin.list_topics(), CLIENT_TIMEOUT_S)):
                return
            topic = NewTopic(self.topic, 1, self._replication, topic_configs={"cleanup.policy": "compact"})
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await asyncio.wait_for(admin.create_topics([topic]), CLIENT_TIMEOUT_S)
        finally:
            await admin.close()

    async def _follow(self) -> None:
        """Tail the claims topic forever (from the beginning), and keep the input's partition count."""
        attempt = 0
        while True:
            try:
                await self._ensure_topic()
                await self._tail()
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                log.warning("following partition owners failed; retrying", exc_info=True)
                await asyncio.sleep(min(BACKOFF_MAX_S, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))

    async def _tail(self) -> None:
        consumer = AIOKafkaConsumer(
            **client_kwargs(self._bootstrap), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await asyncio.wait_for(consumer.start(), CLIENT_TIMEOUT_S)
        try:
            tp = TopicPartition(self.topic, 0)
            consumer.assign([tp])
            await asyncio.wait_for(consumer.seek_to_beginning(tp), CLIENT_TIMEOUT_S)
            refreshed = 0.0
            while True:
                if time.monotonic() - refreshed > METADATA_REFRESH_S:
                    reading = client_of(consumer).fetch_all_metadata()
                    cluster = await asyncio.wait_for(reading, CLIENT_TIMEOUT_S)
                    partitions = cluster.partitions_for_topic(self._input_topic)
                    if partitions:
                        self._partitions = len(partitions)
                    refreshed = time.monotonic()
                batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS)
                for message in batch.get(tp, []):
                    self._apply(message.key, message.value)
                if not self.caught_up.is_set():
                    end = (await asyncio.wait_for(consumer.end_offsets([tp]), CLIENT_TIMEOUT_S))[tp]
                    if await consumer.position(tp) >= end:
                        self.caught_up.set()
        finally:
            await asyncio.wait_for(consumer.stop(), CLIENT_TIMEOUT_S)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        try:
            partition = int(key or b"")
            claim = orjson.loads(value) if value else None
        except (ValueError, orjson.JSONDecodeError):
            return
        if isinstance(claim, dict) and isinstance(claim.get("url"), str):
            self._owners[partition] = (claim["url"].rstrip("/"), float(claim.get("at") or 0.0))
        else:
            self._owners.pop(partition, None)

    async def _announce(self) -> None:
        """Write queued claims (the newest assignment only), retrying through broker trouble."""
        producer: AIOKafkaProducer | None = None
        attempt = 0
        try:
            while True:
                partitions = await self._claims.get()
                while not self._claims.empty():  # an older assignment is superseded by a newer one
                    partitions = self._claims.get_nowait()
                while True:
                    try:
                        if producer is None:
                            await self._ensure_topic()
                            producer = AIOKafkaProducer(
                                **client_kwargs(self._bootstrap), acks="all", enable_idempotence=True
                            )
                            await asyncio.wait_for(producer.start(), CLIENT_TIMEOUT_S)
                        value = orjson.dumps({"url": self.own_url, "at": time.time()})
                        sent = [
                            await producer.send(self.topic, key=str(p).encode(), value=value, partition=0)
                            for p in partitions
                        ]
                        await asyncio.wait_for(asyncio.gather(*sent), CLIENT_TIMEOUT_S)
                        log.info("claimed partitions for the console", extra={"partitions": partitions})
                        attempt = 0
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        attempt += 1
                        log.warning("claiming partitions failed; retrying", exc_info=True)
                        if producer is not None:
                            with contextlib.suppress(Exception):
                                await asyncio.wait_for(producer.stop(), CLIENT_TIMEOUT_S)
                            producer = None
                        await asyncio.sleep(min(BACKOFF_MAX_S, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))
                        if not self._claims.empty():
                            break  # a newer assignment came meanwhile: claim that instead
        finally:
            if producer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), CLIENT_TIMEOUT_S)
