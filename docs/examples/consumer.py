"""A downstream consumer of vtex-kafka-bridge's status topics: the minimum a consuming team needs.

Run it beside `make run`:  .venv/bin/python docs/examples/consumer.py vtex.orders.status.invoiced

It reads with isolation_level=read_committed (the bridge writes in transactions), keeps each order's
newest known change so a `late` event never moves an order backwards, and de-duplicates on `event_id`
as a second line of defence (e.g. after restoring its own state from a backup).
"""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiokafka import AIOKafkaConsumer

BOOTSTRAP = "127.0.0.1:9092"


async def main(topics: list[str]) -> None:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=BOOTSTRAP,
        group_id="example-consumer",
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen: set[str] = set()
    newest: dict[str, str] = {}
    await consumer.start()
    try:
        async for record in consumer:
            event = orjson.loads(record.value)
            if event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            if event["late"]:
                print(f"{event['order_id']}: late {event['state']} (already at {event['newer_state']})")
            else:
                newest[event["order_id"]] = event["state"]
                total = event["order"].get("value", 0) / 100
                print(f"{event['order_id']}: now {event['state']} (order total {total:.2f})")
            await consumer.commit()
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["vtex.orders.status.invoiced"]))
