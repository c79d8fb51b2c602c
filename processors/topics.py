"""Create the processor's topics at startup when missing: input, dead-letter, status topics, changelog.

The de-dup changelog must have exactly as many partitions as the input topic (partition p of one is the
state of partition p of the other), so its count is taken from the input topic when that exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bridge.settings import Settings
from processors.routing import Router
from processors.state import changelog_topic

log = logging.getLogger(__name__)

ADMIN_TIMEOUT_S: Final = 30.0


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every missing topic; return the names created."""
    replication = settings.worker_topic_replication
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await asyncio.wait_for(admin.start(), ADMIN_TIMEOUT_S)
    try:
        existing = set(await asyncio.wait_for(admin.list_topics(), ADMIN_TIMEOUT_S))
        partitions = settings.input_topic_partitions
        if settings.input_topic in existing:
            described = await asyncio.wait_for(admin.describe_topics([settings.input_topic]), ADMIN_TIMEOUT_S)
            partitions = len(described[0]["partitions"]) or partitions
        router = Router(settings.status_topic_prefix, settings.worker_route_groups)
        wanted: dict[str, NewTopic] = {}
        for name in [settings.input_topic, settings.dead_letter_topic, *router.topics()]:
            wanted[name] = NewTopic(name, partitions, replication)
        changelog = changelog_topic(settings.worker_app_id)
        wanted[changelog] = NewTopic(
            changelog, partitions, replication, topic_configs={"cleanup.policy": "compact"}
        )
        missing = [topic for name, topic in wanted.items() if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker created them first
                await asyncio.wait_for(admin.create_topics(missing), ADMIN_TIMEOUT_S)
        created = [t.name for t in missing]
        if created:
            log.info("created topics", extra={"topics": created})
        return created
    finally:
        await admin.close()
