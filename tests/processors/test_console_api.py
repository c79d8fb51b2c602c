"""Unit tests of the console's API and page against the real handlers (aiohttp test client, no broker)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from bridge.settings import Settings, load_settings
from processors.console import add_console
from processors.console.api import HOP_HEADER
from processors.console.ownership import partition_for
from processors.timeline import encode_entry, entry
from processors.timeline_store import MemoryTimelines, TimelineStore

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "simulator/data/example-order.json").read_text())
TOKEN = "kV3q9XzT1bW7mNp2RfY8sLd4"
READ_TOKEN = "Qh7TzN2wLp9cXv4RbM6sKy1J"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PARTITIONS = 4

Client = TestClient[Any, Any]


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "kafka_embedded": False,
        "input_topic": "in",
        "input_topic_partitions": PARTITIONS,
        "dead_letter_topic": "dlq",
        "console_admin_token": TOKEN,
        "worker_advertised_url": "http://127.0.0.1:1",
    }
    return load_settings(**{**base, **overrides})


class FakeRuntime:
    def __init__(self, config: Settings, owned: set[int]) -> None:
        self.settings = config
        self.stores: dict[int, MemoryTimelines] = {p: MemoryTimelines() for p in owned}

    def owns(self, partition: int) -> bool:
        return partition in self.stores

    def timelines(self, partition: int) -> TimelineStore | None:
        return self.stores.get(partition)

    def record(self, order_id: str, *outcomes: tuple[str, int | None]) -> None:
        store = self.stores[partition_for(order_id, PARTITIONS)]
        store.put(
            order_id,
            [
                encode_entry(
                    entry(float(i), outcome=o, partition=0, offset=i, event_id=f"e{i}", state="invoiced"),
                    None if offset is None else ("st.invoiced", 0, offset),
                )
                for i, (o, offset) in enumerate(outcomes)
            ],
        )


@dataclass
class Message:
    value: bytes | None
    partition: int = 0
    offset: int = 0
    timestamp: int = 0
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


class FakeReader:
    def __init__(self) -> None:
        self.records: dict[tuple[str, int, int], Message] = {}
        self.letters: list[Message] = []

    async def record_at(self, topic: str, partition: int, offset: int) -> Message | None:
        return self.records.get((topic, partition, offset))

    async def tail(self, topic: str, limit: int) -> list[Message]:
        return self.letters[-limit:]

    async def close(self) -> None:
        return None


@dataclass
class Calls:
    made: list[tuple[str, dict[str, Any]]]

    async def all(self, config: Settings, **options: Any) -> dict[str, Any]:
        self.made.append(("all", options))
        return {"replayed": 2, "skipped": 0, "scanned": 2}

    async def one(self, config: Settings, **options: Any) -> dict[str, Any]:
        self.made.append(("one", options))
        if options["offset"] == 99:
            raise LookupError("no dead letter there")
        return {"replayed": 1, "order_id": "o1", "event_id": "e1"}


def build(
    config: Settings, runtime: FakeRuntime, distribution: dict[str, Any], reader: FakeReader, calls: Calls
) -> web.Application:
    app = web.Application()
    add_console(
        app,
        runtime,
        lambda: distribution,
        registry=CollectorRegistry(),
        reader=reader,  # type: ignore[arg-type]
        replay_all_fn=calls.all,
        replay_one_fn=calls.one,
    )
    return app


@pytest.fixture
def parts() -> tuple[FakeRuntime, FakeReader, Calls]:
    return FakeRuntime(settings(), set(range(PARTITIONS))), FakeReader(), Calls([])


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[Client]],
    parts: tuple[FakeRuntime, FakeReader, Calls],
) -> Client:
    runtime, reader, calls = parts
    distribution = {"http://127.0.0.1:1": {"in": list(range(PARTITIONS))}}
    return await aiohttp_client(build(runtime.settings, runtime, distribution, reader, calls), headers=AUTH)


class TestOrderLookup:
    """The owner answers from its timeline, with the latest downstream record masked."""

    async def test_local_answer(self, client: Client, parts: tuple[FakeRuntime, FakeReader, Calls]) -> None:
        runtime, reader, _ = parts
        runtime.record("o1", ("emitted", 5), ("duplicate", None))
        value = {"event_id": "e0", "state": "invoiced", "order_status": "invoiced", "order": EXAMPLE}
        reader.records[("st.invoiced", 0, 5)] = Message(orjson.dumps(value))
        response = await client.get("/api/orders/o1")
        assert 200 == response.status
        body = await response.json()
        assert (partition_for("o1", PARTITIONS), False) == (body["partition"], body["forwarded"])
        assert ["emitted", "duplicate"] == [e["outcome"] for e in body["timeline"]]
        latest = body["latest"]
        assert ({"topic": "st.invoiced", "partition": 0, "offset": 5}, "invoiced") == (
            latest["record"],
            latest["order_status"],
        )
        assert "ana.souza@example.com" not in json.dumps(latest)
        assert "a***@e***.com" == latest["order"]["clientProfileData"]["email"]
        assert "no-store" == response.headers["Cache-Control"]

    async def test_not_found_and_bad_id(self, client: Client) -> None:
        response = await client.get("/api/orders/nope")
        assert (404, "not-found") == (response.status, (await response.json())["error"])
        assert 400 == (await client.get("/api/orders/" + "x" * 200)).status

    async def test_latest_gone_and_skipped(
        self, client: Client, parts: tuple[FakeRuntime, FakeReader, Calls]
    ) -> None:
        parts[0].record("o2", ("emitted", 7))
        body = await (await client.get("/api/orders/o2")).json()
        assert "gone" == body["latest"]["error"]
        body = await (await client.get("/api/orders/o2?latest=0")).json()
        assert None is body["latest"]

    async def test_timeline_switched_off(self, aiohttp_client: Callable[..., Awaitable[Client]]) -> None:
        config = settings(worker_timeline_enabled=False)
        runtime = FakeRuntime(config, set(range(PARTITIONS)))
        client = await aiohttp_client(build(config, runtime, {}, FakeReader(), Calls([])), headers=AUTH)
        assert 501 == (await client.get("/api/orders/o1")).status


class TestForwarding:
    """A worker that does not own the order's partition asks the owner, once."""

    async def test_forwarded_to_the_owner(self, aiohttp_client: Callable[..., Awaitable[Client]]) -> None:
        owner_runtime = FakeRuntime(settings(), set(range(PARTITIONS)))
        owner_runtime.record("o1", ("duplicate", None))
        owner_app = build(owner_runtime.settings, owner_runtime, {}, FakeReader(), Calls([]))
        owner = await aiohttp_client(owner_app)  # no login of its own: the forward carries the token
        owner_url = str(owner.make_url("")).rstrip("/")
        config = settings(worker_advertised_url="http://127.0.0.1:2")
        other = FakeRuntime(config, set())
        distribution = {owner_url: {"in": list(range(PARTITIONS))}}
        client = await aiohttp_client(
            build(config, other, distribution, FakeReader(), Calls([])), headers=AUTH
        )
        response = await client.get("/api/orders/o1?latest=0")
        body = await response.json()
        assert (200, True, "http://127.0.0.1:2") == (response.status, body["forwarded"], body["forwarded_by"])
        assert ["duplicate"] == [e["outcome"] for e in body["timeline"]]
        assert 404 == (await client.get("/api/orders/unknown")).status  # the owner's answer, passed on

    async def test_no_bounce_unknown_and_unreachable_owner(
        self, aiohttp_client: Callable[..., Awaitable[Client]]
    ) -> None:
        config = settings()
        other = FakeRuntime(config, set())
        distribution: dict[str, Any] = {}
        client = await aiohttp_client(
            build(config, other, distribution, FakeReader(), Calls([])), headers=AUTH
        )
        assert "owner-unknown" == (await (await client.get("/api/orders/o1")).json())["error"]
        response = await client.get("/api/orders/o1", headers={HOP_HEADER: "1"})
        assert (503, "not-owner") == (response.status, (await response.json())["error"])
        server = TestServer(web.Application())
        await server.start_server()
        gone = str(server.make_url("")).rstrip("/")
        await server.close()  # nobody listens there any more
        distribution[gone] = {"in": list(range(PARTITIONS))}
        response = await client.get("/api/orders/o1")
        assert (502, "owner-unreachable") == (response.status, (await response.json())["error"])


def letter(order_id: str, offset: int, timestamp: int) -> Message:
    event = {"OrderId": order_id, "State": "invoiced", "Origin": {"Account": "acct", "Key": "appkey-1"}}
    value = {
        "reason": "order-not-found",
        "detail": "order not found; OMS said: no order of ana.souza@example.com",
        "order_id": order_id,
        "state": "invoiced",
        "event_id": "e1",
        "input_topic": "in",
        "partition": 0,
        "offset": 3,
        "event": json.dumps(event),
    }
    return Message(orjson.dumps(value), partition=1, offset=offset, timestamp=timestamp)


class TestDeadLetters:
    """Recent dead letters are listed newest first, masked, filterable by order."""

    async def test_list(self, client: Client, parts: tuple[FakeRuntime, FakeReader, Calls]) -> None:
        parts[1].letters = [letter("o1", 0, 100), letter("o2", 1, 200)]
        body = await (await client.get("/api/dead-letters?limit=10")).json()
        assert ["o2", "o1"] == [d["order_id"] for d in body["dead_letters"]]
        assert "***" == body["dead_letters"][0]["event"]["Origin"]["Key"]
        assert "no order of a***@e***.com" in body["dead_letters"][0]["detail"]  # emails in details too
        assert {"topic": "in", "partition": 0, "offset": 3} == body["dead_letters"][0]["input"]
        body = await (await client.get("/api/dead-letters?order_id=o1")).json()
        assert [0] == [d["offset"] for d in body["dead_letters"]]
        assert 400 == (await client.get("/api/dead-letters?limit=x")).status


class TestRecentOrders:
    """The newest orders on the input topic are listed (newest first, once each) to look up."""

    async def test_list(self, client: Client, parts: tuple[FakeRuntime, FakeReader, Calls]) -> None:
        def hook(order_id: str, state: str, at: int) -> Message:
            return Message(b"{}", timestamp=at, key=order_id.encode(), headers=(("state", state.encode()),))

        parts[1].letters = [
            hook("o-1", "handling", 1),
            hook("o-2", "invoiced", 2),
            hook("o-1", "invoiced", 3),
        ]
        parts[1].letters.append(Message(b"{}", timestamp=4, key=b"../x"))  # never an id to look up
        response = await client.get("/api/orders/recent")
        assert 200 == response.status
        listed = [(o["order_id"], o["state"]) for o in (await response.json())["orders"]]
        assert [("o-1", "invoiced"), ("o-2", "invoiced")] == listed

    async def test_needs_a_login(self, aiohttp_client: Callable[..., Awaitable[Client]], parts: Any) -> None:
        runtime, reader, calls = parts
        anonymous = await aiohttp_client(build(runtime.settings, runtime, {}, reader, calls))
        assert 401 == (await anonymous.get("/api/orders/recent")).status


class TestReplay:
    """Replay needs the admin token; it is off without one; it runs the replay code it is given."""

    async def test_refused(self, aiohttp_client: Callable[..., Awaitable[Client]]) -> None:
        config = settings(console_read_token=READ_TOKEN)
        app = build(config, FakeRuntime(config, set()), {}, FakeReader(), Calls([]))
        client = await aiohttp_client(app)
        one = {"partition": 0, "offset": 1}
        assert 401 == (await client.post("/api/dead-letters/replay", json=one)).status
        for token in ("nope", READ_TOKEN):  # a read token is a login, but not for replay
            response = await client.post(
                "/api/dead-letters/replay", json=one, headers={"Authorization": f"Bearer {token}"}
            )
            assert ("Bearer" in response.headers["WWW-Authenticate"], 401) == (True, response.status)
        config = settings(console_admin_token="", console_read_token=READ_TOKEN)
        app = build(config, FakeRuntime(config, set()), {}, FakeReader(), Calls([]))
        off = await aiohttp_client(app, headers={"Authorization": f"Bearer {READ_TOKEN}"})
        response = await off.post("/api/dead-letters/replay", json={})
        assert (403, "replay-disabled") == (response.status, (await response.json())["error"])

    async def test_one_all_and_errors(
        self, client: Client, parts: tuple[FakeRuntime, FakeReader, Calls]
    ) -> None:
        auth = AUTH
        response = await client.post(
            "/api/dead-letters/replay", json={"partition": 1, "offset": 4}, headers=auth
        )
        assert (200, "o1") == (response.status, (await response.json())["order_id"])
        body = {"all": True, "reason": "order-not-found", "limit": 5}
        response = await client.post("/api/dead-letters/replay", json=body, headers=auth)
        assert (200, 2) == (response.status, (await response.json())["replayed"])
        assert [
            ("one", {"partition": 1, "offset": 4}),
            ("all", {"reason": "order-not-found", "limit": 5, "dry_run": False}),
        ] == parts[2].made
        missing = await client.post(
            "/api/dead-letters/replay", json={"partition": 1, "offset": 99}, headers=auth
        )
        assert 404 == missing.status
        assert (
            400 == (await client.post("/api/dead-letters/replay", json={"offset": -1}, headers=auth)).status
        )
        assert 400 == (await client.post("/api/dead-letters/replay", data=b"{", headers=auth)).status


class TestPage:
    """The page and its assets are served with a strict Content-Security-Policy."""

    async def test_page_and_assets(self, client: Client) -> None:
        response = await client.get("/", allow_redirects=False)
        assert (302, "/console") == (response.status, response.headers["Location"])
        response = await client.get("/console")
        assert 200 == response.status
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "/console/static/console.js" in await response.text()
        script = await client.get("/console/static/console.js")
        assert (200, "text/javascript") == (script.status, script.content_type)
        assert 404 == (await client.get("/console/static/secrets.txt")).status
        assert 204 == (await client.get("/favicon.ico")).status
