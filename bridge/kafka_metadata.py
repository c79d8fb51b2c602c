"""Whether one topic exists, asked about that topic alone.

The usual ways (`consumer.topics()`, `client.fetch_all_metadata()`, `admin.list_topics()`) ask for the
metadata of *every* topic in the cluster, since a request naming a missing topic creates it on brokers
with `auto.create.topics.enable`. That answer grows with the cluster and aiokafka parses it in Python on
the event loop: 10 ms of CPU for 100 topics of 12 partitions, 67 ms for 900 (measured here). Workers,
the ingress and the feed poller ask every second whether the control topic exists (it does not until
the first reshard), so on a shared cluster with a few thousand topics that was a tenth of a core and
a 100+ ms stall of every request and event, every second. A Metadata request (v4+) naming only the
topic with `allow_auto_topic_creation=false` answers in constant time and creates nothing.
"""

from __future__ import annotations

from typing import Any, Final

from aiokafka.errors import KafkaConnectionError

from bridge.aiokafka_fixes import metadata_request

#: Kafka error codes of a topic in a Metadata response.
NO_ERROR: Final = 0
LEADER_NOT_AVAILABLE: Final = 5  # the topic exists; its leader is being elected (e.g. just created)
#: Metadata v4 introduced `allow_auto_topic_creation`; an older request naming a topic may create it.
MIN_METADATA_VERSION: Final = 4


async def topic_exists(client: Any, topic: str) -> bool:
    """Ask the cluster, through aiokafka's `AIOKafkaClient` `client`, whether `topic` exists.

    A topic we may not describe counts as missing, as it would in the list of all topics. Raise
    aiokafka's errors when the cluster cannot be asked.
    """
    node = client.get_random_node()
    if node is None:
        raise KafkaConnectionError("no broker known to ask for metadata")
    response = await client.send(node, metadata_request([topic]))
    if response.API_VERSION < MIN_METADATA_VERSION:  # pragma: no cover - brokers older than Kafka 1.0
        return topic in (await client.fetch_all_metadata()).topics()
    exists = (NO_ERROR, LEADER_NOT_AVAILABLE)
    return any(name == topic and error in exists for error, name, *_ in response.topics)
