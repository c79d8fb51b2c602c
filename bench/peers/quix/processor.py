"""The Quix Streams peer of the bridge's processor: the same job, written the way Quix Streams is used.

Runs in its own virtualenv (.venv-peers, see requirements.txt), started by `bench.processor`. One
message at a time with `processing_guarantee="exactly-once"`: drop an event whose event_id this order
already saw (state in Quix's RocksDB store, backed by its changelog topic), read the order from the OMS
over HTTP, write `{order_id, event_id, state, order}` keyed by OrderId with an `event_id` header to the
output topic. Configuration from the environment: PEER_BOOTSTRAP, PEER_INPUT, PEER_OUTPUT, PEER_GROUP,
PEER_OMS_URL (the OMS base URL), PEER_OMS_APP_KEY, PEER_OMS_APP_TOKEN, PEER_STATE_DIR,
PEER_COMMIT_INTERVAL (seconds). SIGTERM stops it.
"""

from __future__ import annotations

import http.client
import json
import os
from typing import Any
from urllib.parse import urlsplit

from quixstreams import Application, State

SEEN_PER_ORDER = 64


def main() -> None:
    app = Application(
        broker_address=os.environ["PEER_BOOTSTRAP"],
        consumer_group=os.environ["PEER_GROUP"],
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=float(os.environ.get("PEER_COMMIT_INTERVAL", "0.1")),
        state_dir=os.environ["PEER_STATE_DIR"],
        loglevel="WARNING",
    )
    source = app.topic(os.environ["PEER_INPUT"], key_deserializer="str", value_deserializer="json")
    sink = app.topic(os.environ["PEER_OUTPUT"], key_serializer="str", value_serializer="json")
    oms_url = urlsplit(os.environ["PEER_OMS_URL"])
    oms = http.client.HTTPConnection(oms_url.hostname or "127.0.0.1", oms_url.port, timeout=10.0)
    credentials = {
        "X-VTEX-API-AppKey": os.environ["PEER_OMS_APP_KEY"],
        "X-VTEX-API-AppToken": os.environ["PEER_OMS_APP_TOKEN"],
    }

    def enrich(value: dict[str, Any], state: State) -> dict[str, Any] | None:
        seen: list[str] = state.get("seen", [])
        event_id = value["event_id"]
        if event_id in seen:
            return None
        path = f"/api/oms/pvt/orders/{value['OrderId']}"
        oms.request("GET", path, headers=credentials)  # one kept-alive connection
        response = oms.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"OMS answered {response.status}")  # never in the benchmark: it stops the app
        state.set("seen", [*seen, event_id][-SEEN_PER_ORDER:])
        return {
            "order_id": value["OrderId"],
            "event_id": event_id,
            "state": value.get("State"),
            "order": json.loads(body),
        }

    stream = app.dataframe(source)
    stream = stream.apply(enrich, stateful=True).filter(lambda record: record is not None)
    stream = stream.set_headers(
        lambda record, _key, _timestamp, _headers: [("event_id", record["event_id"].encode())]
    )
    stream.to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()
