"""The AsyncAPI document describes exactly the topics the processor writes, with our JSON Schemas."""

from __future__ import annotations

import json

import pytest

from bridge.settings import load_settings
from processors.asyncapi import render
from processors.routing import Router
from schemas import SCHEMA_DIR


class TestAsyncApi:
    """`schemas/asyncapi.json` is the rendering of the routing for the default settings."""

    def test_committed_document_is_current(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (
            "KAFKA_BOOTSTRAP_SERVERS",
            "VTEX_BRIDGE_STATUS_TOPIC_PREFIX",
            "VTEX_BRIDGE_WORKER_ROUTE_GROUPS",
        ):
            monkeypatch.delenv(name, raising=False)
        committed = json.loads((SCHEMA_DIR / "asyncapi.json").read_text())
        assert render(load_settings()) == committed, "run: vtex-bridge asyncapi > schemas/asyncapi.json"

    def test_channels_are_the_routed_topics(self) -> None:
        settings = load_settings(worker_route_groups={"fulfilment": ["handling", "start-handling"]})
        document = render(settings)
        addresses = sorted(c["address"] for c in document["channels"].values())
        assert Router(settings.status_topic_prefix, settings.worker_route_groups).topics() == addresses
        assert "vtex.orders.status.fulfilment" in addresses
        assert "vtex.orders.status.handling" not in addresses
        assert len(document["channels"]) == len(document["operations"])

    def test_payload_is_the_downstream_schema(self) -> None:
        message = render(load_settings())["components"]["messages"]["orderEvent"]
        assert (SCHEMA_DIR / message["payload"]["$ref"]).exists()
        assert "OrderId" in message["bindings"]["kafka"]["key"]["description"]
        for operation in render(load_settings())["operations"].values():
            assert "receive" == operation["action"]
