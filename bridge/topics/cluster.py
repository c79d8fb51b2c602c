"""Read what a Kafka cluster holds for our topics: partitions, replicas, ISR, configs, the group's lag.

Only topics that exist are described: a metadata request naming a missing topic would create it on a
broker with `auto.create.topics.enable` (the default), with the broker's partition count. Every await
is bounded by the caller's admin timeout (`settings.topics_admin_timeout_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorError,
)

from bridge.kafka_config import client_kwargs

#: `config_source` of a DescribeConfigs entry set on the topic itself (KIP-226); the rest are defaults.
DYNAMIC_TOPIC_CONFIG: Final = 1
UNKNOWN_TOPIC_OR_PARTITION: Final = 3
#: A group coordinator that is not there yet (fresh cluster: the offsets topic is being created) or moving.
COORDINATOR_SETTLING: Final = (
    CoordinatorNotAvailableError,
    CoordinatorLoadInProgressError,
    NotCoordinatorError,
)
COORDINATOR_WAIT_S: Final = 10.0
COORDINATOR_RETRY_S: Final = 0.5


class ClusterError(RuntimeError):
    """The cluster answered with an error for one of our topics; the message says which."""


@dataclass(frozen=True, slots=True)
class PartitionReplicas:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TopicState:
    """One existing topic as the cluster describes it."""

    name: str
    partitions: tuple[PartitionReplicas, ...]
    #: Every config's effective value (topic overrides, broker settings and defaults alike).
    configs: dict[str, str] = field(hash=False)
    #: The configs set on the topic itself: what a (non-incremental) AlterConfigs must keep.
    overrides: dict[str, str] = field(hash=False)

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    @property
    def replication_factor(self) -> int:
        return min((len(p.replicas) for p in self.partitions), default=0)

    @property
    def under_replicated(self) -> int:
        """Return how many partitions have fewer in-sync replicas than replicas."""
        return sum(1 for p in self.partitions if len(p.isr) < len(p.replicas))


@dataclass(frozen=True, slots=True)
class ClusterState:
    brokers: int
    #: The topics read: the declared ones that exist and the undeclared ones with our prefixes.
    topics: dict[str, TopicState] = field(hash=False)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    partition: int
    end: int
    committed: int | None  # None: the group never committed on this partition

    @property
    def lag(self) -> int:
        return max(0, self.end - (self.committed or 0))


@contextlib.asynccontextmanager
async def admin_client(bootstrap: str, timeout_s: float) -> AsyncIterator[AIOKafkaAdminClient]:
    """Yield a started admin client; its requests time out after `timeout_s` too."""
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        yield admin
    finally:
        await asyncio.wait_for(admin.close(), timeout_s)


async def read_cluster(
    admin: AIOKafkaAdminClient, wanted: Iterable[str], prefixes: tuple[str, ...], *, timeout_s: float
) -> ClusterState:
    """Describe the existing topics among `wanted` and those whose name starts with one of `prefixes`."""
    wanted = set(wanted)
    names = await asyncio.wait_for(admin.list_topics(), timeout_s)
    selected = sorted(n for n in names if n in wanted or (prefixes and n.startswith(prefixes)))
    brokers = len((await asyncio.wait_for(admin.describe_cluster(), timeout_s)).get("brokers", []))
    if not selected:
        return ClusterState(brokers, {})
    described = await asyncio.wait_for(admin.describe_topics(selected), timeout_s)
    partitions: dict[str, tuple[PartitionReplicas, ...]] = {}
    for topic in described:
        if topic["error_code"] == UNKNOWN_TOPIC_OR_PARTITION:
            continue  # deleted since it was listed
        partitions[topic["topic"]] = tuple(
            sorted(
                (
                    PartitionReplicas(p["partition"], p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
                    for p in topic["partitions"]
                ),
                key=lambda p: p.partition,
            )
        )
    configs = await describe_configs(admin, sorted(partitions), timeout_s=timeout_s)
    topics = {
        name: TopicState(name, parts, *configs.get(name, ({}, {}))) for name, parts in partitions.items()
    }
    return ClusterState(brokers, topics)


async def describe_configs(
    admin: AIOKafkaAdminClient, names: list[str], *, timeout_s: float
) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """Return {topic: (effective configs, topic-level overrides)}."""
    if not names:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    responses = await asyncio.wait_for(admin.describe_configs(resources), timeout_s)
    result: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            name = resource["resource_name"]
            if resource["error_code"] == UNKNOWN_TOPIC_OR_PARTITION:
                continue
            if resource["error_code"]:
                raise ClusterError(
                    f"describe configs of {name}: error {resource['error_code']} {resource['error_message']}"
                )
            effective: dict[str, str] = {}
            overrides: dict[str, str] = {}
            for entry in resource["config_entries"]:
                key, value = entry["config_names"], entry["config_value"]
                if value is None:
                    continue
                effective[key] = value
                if entry.get("config_source") == DYNAMIC_TOPIC_CONFIG:
                    overrides[key] = value
            result[name] = (effective, overrides)
    return result


async def group_lag(
    admin: AIOKafkaAdminClient, bootstrap: str, group: str, topic: TopicState, *, timeout_s: float
) -> list[PartitionLag]:
    """Return, per partition of `topic`, its end offset and the offset consumer group `group` committed."""
    tps = [TopicPartition(topic.name, p.partition) for p in topic.partitions]
    try:
        committed = await asyncio.wait_for(
            admin.list_consumer_group_offsets(group, partitions=tps), timeout_s
        )
    except KafkaError:  # no group coordinator yet (no group ever committed on a fresh cluster)
        committed = {}
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), timeout_s)
    try:
        ends = await asyncio.wait_for(consumer.end_offsets(tps), timeout_s)
    finally:
        await asyncio.wait_for(consumer.stop(), timeout_s)
    lags = []
    for tp in tps:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else None
        lags.append(PartitionLag(tp.partition, int(ends[tp]), offset))
    return lags


async def group_members(admin: AIOKafkaAdminClient, group: str, *, timeout_s: float) -> dict[str, Any]:
    """Return the consumer group's state and member count (what `topics describe` shows).

    On a fresh cluster the first lookup of a group coordinator fails while the broker creates its
    offsets topic: that is retried for up to `COORDINATOR_WAIT_S` and then reported as no group yet
    (state None), which is what it is. Other errors are reported by name.
    """
    deadline = asyncio.get_running_loop().time() + min(timeout_s, COORDINATOR_WAIT_S)
    while True:
        try:
            responses = await asyncio.wait_for(admin.describe_consumer_groups([group]), timeout_s)
            break
        except COORDINATOR_SETTLING:
            if asyncio.get_running_loop().time() >= deadline:
                return {"state": None, "members": 0}
            await asyncio.sleep(COORDINATOR_RETRY_S)
        except KafkaError as exc:
            return {"state": f"unavailable ({type(exc).__name__})", "members": 0}
    for response in responses:
        for described in response.to_object().get("groups", []):
            if described.get("group") == group:
                return {"state": described.get("state"), "members": len(described.get("members", []))}
    return {"state": None, "members": 0}
