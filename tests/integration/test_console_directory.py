"""The console's owner directory over a real broker: claims are shared, the newest claim wins."""

from __future__ import annotations

import pytest

from processors.console.directory import OwnerDirectory
from testkit.kafka import create_topics, unique, wait_until

pytestmark = pytest.mark.integration


def directory(bootstrap: str, topic: str, input_topic: str, url: str) -> OwnerDirectory:
    return OwnerDirectory(
        bootstrap=bootstrap, topic=topic, input_topic=input_topic, own_url=url, replication=1, create=True
    )


class TestOwnerDirectory:
    """Each worker announces its partitions; every worker sees all owners and the input's size."""

    async def test_claims(self, kafka_bootstrap: str) -> None:
        topic, input_topic = unique("owners"), unique("in")
        await create_topics(kafka_bootstrap, input_topic, partitions=3)
        one = directory(kafka_bootstrap, topic, input_topic, "http://127.0.0.1:1")
        two = directory(kafka_bootstrap, topic, input_topic, "http://127.0.0.1:2")
        await one.start()
        await two.start()
        try:
            one.claim([0, 1, 2])
            await wait_until(
                lambda: len(two.distribution().get("http://127.0.0.1:1", {}).get(input_topic, [])) == 3
            )
            two.claim([2])  # a rebalance moved partition 2
            expected = {"http://127.0.0.1:1": {input_topic: [0, 1]}, "http://127.0.0.1:2": {input_topic: [2]}}
            await wait_until(lambda: one.distribution() == expected and two.distribution() == expected)
            await wait_until(lambda: one.partition_count() == 3)
        finally:
            await one.close()
            await two.close()
        late = directory(kafka_bootstrap, topic, input_topic, "http://127.0.0.1:3")
        await late.start()  # a worker that starts later reads every claim from the beginning
        try:
            await wait_until(lambda: late.caught_up.is_set())
            assert expected == late.distribution()
        finally:
            await late.close()
