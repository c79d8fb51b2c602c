"""Read-only looks at Kafka and the workers that the chaos harness waits on and reports.

Each call opens and closes its own client, bounded, so a probe works across a broker restart and a
failing probe (broker frozen or down) is an exception the caller treats as "not yet".
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bridge.aiokafka_fixes import client_of

PROBE_TIMEOUT_S = 10.0


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """Return the end offset of each partition of `topic` ({} while the topic does not exist)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), PROBE_TIMEOUT_S)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await asyncio.wait_for(client_of(consumer).force_metadata_update(), PROBE_TIMEOUT_S)
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return {}
        return dict(await asyncio.wait_for(consumer.end_offsets(tps), PROBE_TIMEOUT_S))
    finally:
        await asyncio.wait_for(consumer.stop(), PROBE_TIMEOUT_S)


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[TopicPartition, int]:
    """Return the offsets consumer group `group` committed on `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), PROBE_TIMEOUT_S)
    try:
        offsets = await asyncio.wait_for(admin.list_consumer_group_offsets(group), PROBE_TIMEOUT_S)
    finally:
        await asyncio.wait_for(admin.close(), PROBE_TIMEOUT_S)
    return {tp: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Tell whether `group` committed the end of every partition of `topic` (False when unsure)."""
    try:
        end = await end_offsets(bootstrap, topic)
        committed = await committed_offsets(bootstrap, group, topic)
    except Exception:  # noqa: BLE001 - the broker may be restarting or frozen: not caught up yet
        return False
    return bool(end) and all(committed.get(tp, 0) >= offset for tp, offset in end.items())


def counter_totals(text: str, family: str) -> dict[str, int]:
    """Return a Prometheus counter family's `_total` samples by their (single) label value."""
    totals: dict[str, int] = {}
    for metric in text_string_to_metric_families(text):
        if metric.name != family:
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                label = next(iter(sample.labels.values()), "")
                totals[label] = totals.get(label, 0) + int(sample.value)
    return totals
