"""The checker reads Kafka as a downstream consumer must: committed records only, every status topic."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from testkit.checker import check_kafka
from testkit.kafka import create_topics, unique
from tests.chaos.test_checker import A, B, accepted_only, event_id, output

pytestmark = pytest.mark.integration

PRODUCE_TIMEOUT_S = 30.0


def input_value(payload: dict[str, object]) -> bytes:
    return orjson.dumps({**payload, "event_id": event_id(payload), "source": "hook"})


class TestCheckerOnKafka:
    """Aborted transactions are invisible to the checker; a committed second copy is a duplicate."""

    async def test_aborted_records_do_not_count_and_committed_copies_do(self, kafka_bootstrap: str) -> None:
        name = unique("checker")
        input_topic, prefix, dlq = f"{name}.in", f"{name}.st.", f"{name}.dlq"
        await create_topics(kafka_bootstrap, input_topic, f"{prefix}all", dlq)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=name)
        await asyncio.wait_for(producer.start(), PRODUCE_TIMEOUT_S)
        try:
            for p in (A, B):
                await producer.begin_transaction()
                await producer.send_and_wait(input_topic, input_value(p), key=p["OrderId"].encode())
                await producer.commit_transaction()

            async def downstream(p: dict[str, object], *, commit: bool) -> None:
                value = orjson.dumps(dict(output(p, 0, topic=f"{prefix}all").value))
                await producer.begin_transaction()
                await producer.send_and_wait(f"{prefix}all", value, key=str(p["OrderId"]).encode())
                await (producer.commit_transaction() if commit else producer.abort_transaction())

            await downstream(A, commit=True)
            await downstream(B, commit=False)  # a crashed worker's write: must stay invisible
            clean = await check_kafka(
                "aborted", accepted_only(A, B), bootstrap=kafka_bootstrap, input_topic=input_topic,
                status_prefix=prefix, dead_letter_topic=dlq,
            )  # fmt: skip
            assert (1, 1, 0) == (clean.delivered, clean.lost, clean.duplicated)

            await downstream(B, commit=True)
            await downstream(B, commit=True)
            doubled = await check_kafka(
                "doubled", accepted_only(A, B), bootstrap=kafka_bootstrap, input_topic=input_topic,
                status_prefix=prefix, dead_letter_topic=dlq,
            )  # fmt: skip
            assert (2, 0, 1) == (doubled.delivered, doubled.lost, doubled.duplicated)
        finally:
            await asyncio.wait_for(producer.stop(), PRODUCE_TIMEOUT_S)
