"""Helpers for ingress tests: a fake producer, settings with known secrets, hook payloads and headers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiokafka.structs import RecordMetadata, TopicPartition

from bridge.ingress.server import serve
from bridge.kafka_producer import ProducerStats
from bridge.settings import Settings, load_settings

ACCOUNT = "acme"
APP_KEY = "vtexappkey-acme-TEST"
HEADER = "X-Bridge-Secret"
#: Strong enough for the production profile (bridge.secret_strength), which the tests run in.
SECRET = "current-Qm2xV9pLk4TzR8wN3bHj"
PREVIOUS_SECRET = "previous-5Jd8sF2gYh6KcP1nM4vX"


def ingress_settings(**overrides: Any) -> Settings:
    """Return settings for one account with a current and a previous secret (overrides win)."""
    values: dict[str, Any] = {
        "vtex_account": ACCOUNT,
        "vtex_app_key": APP_KEY,
        "hook_secret_header": HEADER,
        "hook_secret": SECRET,
        "hook_secret_previous": PREVIOUS_SECRET,
        "kafka_embedded": False,
    }
    values.update(overrides)
    return load_settings(**values)


def hook_payload(
    order_id: str = "v1000001abc-01", state: str | None = "ready-for-handling", **extra: Any
) -> dict[str, Any]:
    """Return a valid hook notification (VTEX's spec example shape)."""
    payload: dict[str, Any] = {
        "Domain": "Marketplace",
        "OrderId": order_id,
        "State": state,
        "LastState": "window-to-cancel",
        "LastChange": "2019-08-14T17:11:39.2550122Z",
        "CurrentChange": "2019-08-14T17:12:48.0965893Z",
        "Origin": {"Account": ACCOUNT, "Key": APP_KEY},
    }
    payload.update(extra)
    return payload


def auth_headers(secret: str = SECRET, header: str = HEADER) -> dict[str, str]:
    return {header: secret, "Content-Type": "application/json"}


@dataclass
class SentRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class FakeProducer:
    """Acknowledge every record at once (or raise `error`); remember what was sent and the lifecycle."""

    error: BaseException | None = None
    connected_flag: bool = True
    topic_present: bool = True
    delay: float = 0.0
    records: list[SentRecord] = field(default_factory=list)
    started: bool = False
    stopped: bool = False

    async def start(self, *, require_connection: bool = False) -> None:
        self.started = True

    async def stop(self, timeout: float | None = None) -> None:
        self.stopped = True

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        timeout: float,
    ) -> RecordMetadata:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.records.append(SentRecord(topic, key, value, list(headers or ())))
        offset = len(self.records) - 1
        return RecordMetadata(topic, 0, TopicPartition(topic, 0), offset, None, 0, 0)

    @property
    def connected(self) -> bool:
        return self.connected_flag

    def stats(self) -> ProducerStats:
        return ProducerStats(self.connected_flag, 0, len(self.records), 0, 0, None)

    async def topic_exists(self, topic: str, timeout: float | None = None) -> bool:
        return self.topic_present


async def metrics_text(app: web.Application) -> str:
    """Scrape the /metrics of hook app `app` over loopback HTTP, from its metrics app (own port)."""
    from aiohttp.test_utils import TestClient, TestServer

    from bridge.ingress.app import create_metrics_app

    async with TestClient(TestServer(create_metrics_app(app))) as client:
        response = await client.get("/metrics")
        assert 200 == response.status
        return await response.text()


def openapi_document() -> dict[str, Any]:
    """Return `schemas/ingress.openapi.json`."""
    from schemas import SCHEMA_DIR

    document: dict[str, Any] = orjson.loads((SCHEMA_DIR / "ingress.openapi.json").read_bytes())
    return document


def response_schema_errors(path: str, method: str, status: int, body: Any, content_type: str) -> list[str]:
    """Return why `body` breaks what the OpenAPI document promises for that answer (empty: it does not)."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from bridge.validation import load_schema

    document = openapi_document()
    responses = document["paths"][path][method]["responses"]
    if str(status) not in responses:
        return [f"status {status} is not documented for {method.upper()} {path}"]
    content = responses[str(status)]["content"]
    mime = content_type.split(";")[0].strip()
    if mime not in content:
        return [f"content type {mime} is not documented for {status}"]
    hook = load_schema("hook-notification")
    registry: Registry[Any] = Registry().with_resources(
        [
            ("urn:ingress-openapi", Resource.from_contents(document, default_specification=DRAFT202012)),
            (hook["$id"], Resource.from_contents(hook, default_specification=DRAFT202012)),
        ]
    )
    escaped_path, escaped_mime = path.replace("/", "~1"), mime.replace("/", "~1")
    pointer = f"#/paths/{escaped_path}/{method}/responses/{status}/content/{escaped_mime}/schema"
    validator = Draft202012Validator({"$ref": f"urn:ingress-openapi{pointer}"}, registry=registry)
    return [error.message for error in validator.iter_errors(body)]


@dataclass(frozen=True)
class IngressPorts:
    hook: int
    metrics: int


@contextlib.asynccontextmanager
async def running_ingress_ports(settings: Settings) -> AsyncIterator[IngressPorts]:
    """Serve the real ingress and its metrics on free loopback ports; yield both ports."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    bound: asyncio.Future[int] = loop.create_future()
    metrics: asyncio.Future[int] = loop.create_future()
    server = serve(
        settings,
        host="127.0.0.1",
        port=0,
        started=bound.set_result,
        stop=stop,
        metrics_port=0,
        metrics_started=metrics.set_result,
    )
    task = asyncio.create_task(server)
    try:
        # A server that cannot start (a refused configuration, a port in use) ends `task` instead.
        waited: set[asyncio.Future[Any]] = {task, bound}
        await asyncio.wait(waited, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises what stopped it
        yield IngressPorts(await asyncio.wait_for(bound, 30), await asyncio.wait_for(metrics, 30))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def running_ingress(settings: Settings) -> AsyncIterator[int]:
    """Serve the real ingress on a free loopback port (metrics on another); yield the hook port."""
    async with running_ingress_ports(settings) as ports:
        yield ports.hook
