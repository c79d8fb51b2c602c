"""The ingress against a real broker: every 200 is a record in Kafka, as sent (less the appKey), keyed by
OrderId."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient

from bridge.events import HEADER_EVENT_ID, decode_input_event
from bridge.ingress.app import create_app
from bridge.ingress.server import serve
from bridge.local_kafka import free_port
from testkit.kafka import create_topics, read_all, unique, wait_until
from tests.support.ingress import (
    ACCOUNT,
    APP_KEY,
    HEADER,
    SECRET,
    auth_headers,
    hook_payload,
    ingress_settings,
    response_schema_errors,
)

pytestmark = pytest.mark.integration

STATES = ("order-created", "payment-approved", "ready-for-handling", "handling", "invoiced")


def payloads(orders: int) -> list[dict[str, Any]]:
    """Return hooks for `orders` orders, each walking through STATES with increasing LastChange."""
    return [
        hook_payload(
            order_id=f"v{order:07d}itg-01",
            state=state,
            LastChange=f"2026-11-25T03:00:{step:02d}.{order:07d}Z",
        )
        for order in range(orders)
        for step, state in enumerate(STATES)
    ]


class TestEveryAcceptedHookIsInKafka:
    """Accepted hooks come back from the input topic byte-for-byte, keyed by OrderId, with their event_id."""

    async def test_round_trip(self, aiohttp_client: Any, kafka_bootstrap: str) -> None:
        topic = unique("ingress-in")
        await create_topics(kafka_bootstrap, topic, partitions=3)
        settings = ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic)
        client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
        sent = payloads(20)

        async def post_order(hooks: list[dict[str, Any]]) -> list[dict[str, Any]]:
            # One order's hooks in sequence (VTEX sends them in order), orders concurrently.
            answers = []
            for payload in hooks:
                response = await client.post(
                    "/hooks/vtex", data=orjson.dumps(payload), headers=auth_headers()
                )
                assert 200 == response.status, await response.text()
                answers.append(await response.json())
            return answers

        by_order = [sent[i : i + len(STATES)] for i in range(0, len(sent), len(STATES))]
        answers = [a for batch in await asyncio.gather(*map(post_order, by_order)) for a in batch]

        records = await read_all(kafka_bootstrap, topic, expected=len(sent))
        assert len(sent) == len(records)
        events = [decode_input_event(r.value) for r in records]
        assert sorted(a["event_id"] for a in answers) == sorted(e.event_id for e in events)
        for record, event in zip(records, events, strict=True):
            assert event.order_id.encode() == record.key
            assert (HEADER_EVENT_ID, event.event_id.encode()) in record.headers
            assert ("hook", ACCOUNT) == (event.source, event.account)
        as_recorded = [{**p, "Origin": {"Account": ACCOUNT}} for p in sent]  # the appKey is not copied
        assert sorted(map(orjson.dumps, as_recorded)) == sorted(orjson.dumps(dict(e.payload)) for e in events)
        assert all(APP_KEY.encode() not in r.value for r in records)
        # Per order, the records sit in one partition in the order they were accepted.
        for hooks in by_order:
            mine = [r for r in records if r.key == hooks[0]["OrderId"].encode()]
            assert 1 == len({r.partition for r in mine})
            assert [h["State"] for h in hooks] == [decode_input_event(r.value).state for r in mine]

    async def test_answer_is_documented_and_points_at_the_record(
        self, aiohttp_client: Any, kafka_bootstrap: str
    ) -> None:
        topic = unique("ingress-in")
        await create_topics(kafka_bootstrap, topic)
        settings = ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic)
        client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
        response = await client.post("/hooks/vtex", data=orjson.dumps(hook_payload()), headers=auth_headers())
        body = await response.json()
        assert [] == response_schema_errors(
            "/hooks/vtex", "post", 200, body, response.headers["Content-Type"]
        )
        [record] = await read_all(kafka_bootstrap, topic, expected=1)
        assert (record.partition, record.offset) == (body["partition"], body["offset"])


class TestReadiness:
    """readyz is 200 once the producer is connected and the input topic exists, 503 without the topic."""

    async def test_ready_and_not(self, aiohttp_client: Any, kafka_bootstrap: str) -> None:
        topic = unique("ingress-in")
        await create_topics(kafka_bootstrap, topic)
        ready: TestClient[Any, Any] = await aiohttp_client(
            create_app(ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic))
        )
        missing: TestClient[Any, Any] = await aiohttp_client(
            create_app(
                ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=unique("absent"))
            )
        )
        assert 200 == (await ready.get("/readyz")).status
        response = await missing.get("/readyz")
        assert (503, {"status": "not_ready", "producer_connected": True, "topic_exists": False}) == (
            response.status,
            await response.json(),
        )


class TestGracefulShutdown:
    """Stopping the server lets in-flight hooks finish: every 200 answered is in Kafka."""

    async def test_stop_while_posting(self, kafka_bootstrap: str) -> None:
        topic = unique("ingress-in")
        await create_topics(kafka_bootstrap, topic, partitions=2)
        settings = ingress_settings(kafka_bootstrap_servers=kafka_bootstrap, input_topic=topic)
        stop = asyncio.Event()
        ports: list[int] = []
        server = asyncio.create_task(
            serve(settings, host="127.0.0.1", port=0, started=ports.append, stop=stop)
        )
        await wait_until(lambda: bool(ports) or server.done(), timeout=30, message="server listening")
        url = f"http://127.0.0.1:{ports[0]}/hooks/vtex"
        accepted: list[str] = []
        async with aiohttp.ClientSession() as session:

            async def post(payload: dict[str, Any]) -> None:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.post(
                        url, data=orjson.dumps(payload), headers=auth_headers()
                    ) as response:
                        if response.status == 200:
                            accepted.append((await response.json())["event_id"])

            posts = [asyncio.create_task(post(p)) for p in payloads(40)]
            await wait_until(lambda: len(accepted) >= 10, timeout=30, message="first hooks accepted")
            stop.set()
            await asyncio.wait_for(asyncio.gather(*posts), 30)
        await asyncio.wait_for(server, 30)
        records = await read_all(kafka_bootstrap, topic)
        assert set(accepted) <= {decode_input_event(r.value).event_id for r in records}
        assert len(accepted) >= 10


@pytest.fixture
def ingress_process(kafka_bootstrap: str) -> Iterator[tuple[subprocess.Popen[bytes], int, str]]:
    port, topic = free_port(), unique("ingress-cli")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "VTEX_BRIDGE_INPUT_TOPIC": topic,
        "VTEX_BRIDGE_INGRESS_PORT": str(port),
        "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(free_port()),
        "VTEX_ACCOUNT": ACCOUNT,
        "VTEX_APP_KEY": APP_KEY,
        "VTEX_BRIDGE_HOOK_SECRET_HEADER": HEADER,
        "VTEX_BRIDGE_HOOK_SECRET": SECRET,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "ingress"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield process, port, topic
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


class TestCommand:
    """`vtex-bridge ingress` serves hooks and exits 0 on SIGTERM after flushing."""

    async def test_serve_and_sigterm(
        self, kafka_bootstrap: str, ingress_process: tuple[subprocess.Popen[bytes], int, str]
    ) -> None:
        process, port, topic = ingress_process
        await create_topics(kafka_bootstrap, topic)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                assert process.poll() is None, "ingress exited early"
                try:
                    async with session.get(f"{base}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(ready, timeout=60, interval=0.2, message="ingress ready")
            async with session.post(
                f"{base}/hooks/vtex", data=orjson.dumps(hook_payload()), headers=auth_headers()
            ) as response:
                assert 200 == response.status
        process.send_signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(process.wait, 30)
        assert process.stderr is not None
        log = process.stderr.read().decode()
        assert "ingress listening" in log and "ingress stopped" in log
        assert SECRET not in log
        assert 1 == len(await read_all(kafka_bootstrap, topic, expected=1))


class TestFailClosed:
    """`vtex-bridge ingress` will not start with a public or placeholder secret outside the dev profile."""

    @pytest.mark.parametrize(
        ("secret", "profile", "starts"),
        [
            (None, None, False),  # the settings' default, printed in the README
            ("CHANGEME", None, False),  # the Kubernetes example's placeholder
            (None, "dev", True),  # what `make run` does with the simulator
        ],
    )
    async def test_refuses_weak_secrets(
        self, kafka_bootstrap: str, secret: str | None, profile: str | None, starts: bool
    ) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "KAFKA_BOOTSTRAP"))}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "VTEX_BRIDGE_INGRESS_PORT": str(port),
                "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(free_port()),
                **({"VTEX_BRIDGE_HOOK_SECRET": secret} if secret is not None else {}),
                **({"VTEX_BRIDGE_PROFILE": profile} if profile is not None else {}),
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "ingress"],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        try:
            if not starts:
                assert 1 == await asyncio.to_thread(process.wait, 60)
                assert process.stderr is not None
                log = process.stderr.read().decode()
                assert "ingress cannot start" in log and "set VTEX_BRIDGE_HOOK_SECRET to at least 24" in log
                assert "local-dev-hook-secret" not in log and "CHANGEME" not in log
                return
            async with aiohttp.ClientSession() as session:

                async def healthy() -> bool:
                    assert process.poll() is None, "ingress exited early"
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                            return response.status == 200
                    return False

                await wait_until(healthy, timeout=60, interval=0.2, message="ingress up in the dev profile")
            process.send_signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(process.wait, 30)
            assert process.stderr is not None
            warned = "weak hook secret accepted because VTEX_BRIDGE_PROFILE=dev"
            assert warned in process.stderr.read().decode()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            if process.stderr is not None:
                process.stderr.close()
