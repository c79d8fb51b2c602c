"""The floor of the processor's design on this machine: consume → transactional produce, nothing else.

No OMS call, no de-dup, no ordering, no state: each input record becomes one output record of the size
the worker writes (the input value with an order document of the benchmark's size, parsed once at
start), keyed by OrderId with an `event_id` header like the worker's, in Kafka transactions that also
commit the consumer's offsets (exactly-once, as the worker does). `bench.processor` runs it as a
process with the same core discipline as the worker and reports the worker's CPU per event as a ratio
to this one's.

Configuration from the environment: BARE_BOOTSTRAP, BARE_INPUT, BARE_OUTPUT, BARE_GROUP,
BARE_ORDER_FILE (a JSON order document). SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

#: Records per transaction at the most (one getmany); the worker groups about as many under load.
MAX_RECORDS: Final = 500


async def run(stop: asyncio.Event) -> None:
    env = os.environ
    order = orjson.loads(Path(env["BARE_ORDER_FILE"]).read_bytes())
    consumer = AIOKafkaConsumer(
        env["BARE_INPUT"],
        bootstrap_servers=env["BARE_BOOTSTRAP"],
        group_id=env["BARE_GROUP"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=env["BARE_BOOTSTRAP"],
        transactional_id=f"{env['BARE_GROUP']}-txn",
        linger_ms=5,
        max_batch_size=1 << 20,
    )
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=MAX_RECORDS)
            if not batch:
                continue
            async with producer.transaction():
                for records in batch.values():
                    for record in records:
                        value = orjson.loads(record.value) if record.value else {}
                        value["order"] = order
                        # The worker's downstream records carry the event id as a header too.
                        headers = [("event_id", str(value.get("event_id", "")).encode())]
                        output = orjson.dumps(value)
                        await producer.send(env["BARE_OUTPUT"], output, key=record.key, headers=headers)
                offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
                await producer.send_offsets_to_transaction(offsets, env["BARE_GROUP"])
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.run_until_complete(run(stop))


if __name__ == "__main__":
    main()
