"""Unit tests of input generations: naming, the control record, the partitioner, resolver, watch, phases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from bridge.backfill import backfill_orders
from bridge.ingress.app import create_app
from bridge.settings import load_settings
from bridge.topics import reshard as reshard_module
from bridge.topics.generation import (
    PHASES,
    ControlReader,
    Generation,
    GenerationError,
    GenerationRecord,
    Phase,
    changelog_topics,
    control_topic,
    generation_app_id,
    generation_topic,
    partition_for,
    settings_for,
    transactional_id,
)
from bridge.topics.migration import without_dead_positions
from bridge.topics.resolver import InputTopicResolver, StaticInputTopic
from bridge.topics.worker_switch import GenerationWatch, consumed
from processors.dedup import OrderMemory
from processors.state import MemoryState, changelog_topic
from processors.timeline_store import timeline_topic
from processors.writer import PartitionWriter
from tests.support.ingress import FakeProducer, auth_headers, hook_payload, ingress_settings

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]

G1 = Generation(1, "vtex.orders.hooks", 3)
G2 = Generation(2, "vtex.orders.hooks.g2", 6)


def record(phase: Phase, current: Generation = G2, previous: Generation | None = G1) -> GenerationRecord:
    return GenerationRecord(current, phase, previous, "2026-01-01T00:00:00Z")


class TestNames:
    """Generation 1 keeps today's names; later generations get their own topic, group and changelogs."""

    def test_generation_one_is_the_settings(self) -> None:
        settings = load_settings()
        assert settings.input_topic == generation_topic(settings, 1)
        assert settings.worker_app_id == generation_app_id(settings, 1)
        assert settings is settings_for(settings, Generation(1, settings.input_topic, 12))

    def test_later_generations(self) -> None:
        settings = load_settings(input_topic="in", worker_app_id="app")
        assert ("in.g3", "app-g3") == (generation_topic(settings, 3), generation_app_id(settings, 3))
        assert ("app-g3-dedup-changelog", "app-g3-timeline-changelog") == changelog_topics("app-g3")
        assert (changelog_topic("app-g3"), timeline_topic("app-g3")) == changelog_topics("app-g3")

    def test_control_topic(self) -> None:
        assert "in.control" == control_topic(load_settings(input_topic="in"))
        assert "ctl" == control_topic(load_settings(input_topic="in", generation_control_topic="ctl"))

    def test_worker_settings_of_a_generation(self) -> None:
        settings = load_settings(input_topic="in", worker_app_id="app", input_topic_partitions=3)
        derived = settings_for(settings, Generation(2, "in.g2", 6))
        assert ("in.g2", "app-g2", 6) == (
            derived.input_topic,
            derived.worker_app_id,
            derived.input_topic_partitions,
        )
        assert "in.control" == control_topic(derived)  # pinned to the deployment's

    def test_transactional_id_is_the_writers(self) -> None:
        writer = PartitionWriter(
            bootstrap="127.0.0.1:1",
            app_id="app-g2",
            partition=5,
            changelog="c",
            state_factory=MemoryState,
            load_timeout_s=1,
            produce_timeout_s=1,
            backoff_max_s=1,
        )
        assert transactional_id("app-g2", 5) == writer._txn_id


class TestPartitioner:
    """The migration places a key where the producers' default partitioner puts it."""

    @given(st.binary(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
    def test_same_as_aiokafka(self, key: bytes, partitions: int) -> None:
        every = list(range(partitions))
        assert DefaultPartitioner()(key, every, every) == partition_for(key, partitions)

    def test_known_java_values(self) -> None:
        # Kafka's own client test vectors (Utils.murmur2): "21" -> -973932308, "foobar" -> -790332482.
        assert (-973932308 & 0x7FFFFFFF) % 1000 == partition_for(b"21", 1000)
        assert (-790332482 & 0x7FFFFFFF) % 1000 == partition_for(b"foobar", 1000)


class TestRecord:
    """The control record says where producers write and what workers consume, phase by phase."""

    @pytest.mark.parametrize(
        ("phase", "produce", "consume"),
        [
            ("preparing", G1.topic, G1),
            ("switching", G2.topic, G1),
            ("draining", G2.topic, G1),
            ("migrating", G2.topic, None),
            ("active", G2.topic, G2),
        ],
    )
    def test_phases(self, phase: Phase, produce: str, consume: Generation | None) -> None:
        assert (produce, consume) == (record(phase).produce_topic, record(phase).consuming)

    def test_round_trip(self) -> None:
        for phase in PHASES:
            assert record(phase) == GenerationRecord.from_bytes(record(phase).to_bytes())

    def test_wire_format(self) -> None:
        assert {
            "generation": 2,
            "topic": G2.topic,
            "partitions": 6,
            "phase": "draining",
            "previous": {"generation": 1, "topic": G1.topic, "partitions": 3},
            "updated_at": "2026-01-01T00:00:00Z",
        } == orjson.loads(record("draining").to_bytes())

    @pytest.mark.parametrize(
        "raw", [b"{}", b"nope", b'{"generation":2,"topic":"t","partitions":1,"phase":"x"}']
    )
    def test_unreadable(self, raw: bytes) -> None:
        with pytest.raises(GenerationError):
            GenerationRecord.from_bytes(raw)

    def test_no_record_is_generation_one(self) -> None:
        settings = load_settings(input_topic="in")
        assert Generation(1, "in", 4) == consumed(None, settings, 4)


class TestWatch:
    """A running worker stops once its generation is no longer the one to consume."""

    @pytest.mark.parametrize(
        ("mine", "phase", "retires"),
        [
            (G1, "switching", False),
            (G1, "draining", False),
            (G1, "migrating", True),
            (G1, "active", True),
            (G2, "active", False),
        ],
    )
    def test_retires(self, mine: Generation, phase: Phase, retires: bool) -> None:
        watch = GenerationWatch(load_settings(), mine, lambda: None)
        assert retires == watch.retires(record(phase))


class TestMigrationValue:
    """Dead-letter positions name the old input topic, so the migrated de-dup memory drops them."""

    def test_drops_dead_positions(self) -> None:
        memory = OrderMemory(seen={"e1": 1.0}, newest_state="invoiced", dead={"2:41": 5.0}, emitted=3)
        migrated = OrderMemory.from_json(orjson.loads(without_dead_positions(orjson.dumps(memory.to_json()))))
        assert OrderMemory(seen={"e1": 1.0}, newest_state="invoiced", emitted=3) == migrated

    def test_keeps_others_as_they_are(self) -> None:
        raw = orjson.dumps(OrderMemory(seen={"e1": 1.0}, emitted=1).to_json())
        assert raw is without_dead_positions(raw)


class ScriptedReader(ControlReader):
    """A control reader answering from a script: a record (or None), or an exception to raise."""

    def __init__(self, answers: list[GenerationRecord | Exception | None]) -> None:
        super().__init__("127.0.0.1:1", "ctl")
        self.answers = answers
        self.stops = 0

    async def refresh(self, timeout_s: float) -> GenerationRecord | None:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def stop(self) -> None:
        self.stops += 1


class TestResolver:
    """Producers write the record's produce topic; when it cannot be read, the last one they knew."""

    async def test_follows_the_record(self) -> None:
        settings = load_settings(input_topic=G1.topic, generation_refresh_s=60)
        reader = ScriptedReader([None, record("preparing"), record("switching"), OSError("down"), None])
        resolver = InputTopicResolver(settings, reader=reader)
        await resolver.start()
        try:
            seen = [resolver.produce_topic]
            for _ in range(4):
                await resolver.refresh()
                seen.append(resolver.produce_topic)
        finally:
            await resolver.stop()
        # No record, preparing, switching, an unreadable control topic (kept), no record again.
        assert [G1.topic, G1.topic, G2.topic, G2.topic, G1.topic] == seen
        assert resolver.known

    async def test_starts_on_the_settings_topic_when_unreadable(self) -> None:
        settings = load_settings(input_topic="in", generation_startup_timeout_s=0.05, generation_refresh_s=60)
        resolver = InputTopicResolver(settings, reader=ScriptedReader([OSError("down")]))
        await resolver.start()
        try:
            assert ("in", False) == (resolver.produce_topic, resolver.known)
        finally:
            await resolver.stop()


class TestProducers:
    """The ingress and the backfill write the current generation's topic."""

    async def test_ingress(self, aiohttp_client: ClientFactory) -> None:
        producer = FakeProducer()
        topics = StaticInputTopic("in.g2")
        client = await aiohttp_client(create_app(ingress_settings(), producer=producer, input_topics=topics))
        response = await client.post("/hooks/vtex", json=hook_payload(), headers=auth_headers())
        assert 200 == response.status
        topics.produce_topic = "in.g3"  # the next hook goes where the resolver says now
        response = await client.post(
            "/hooks/vtex", json=hook_payload(state="invoiced"), headers=auth_headers()
        )
        assert 200 == response.status
        assert ["in.g2", "in.g3"] == [r.topic for r in producer.records]

    async def test_backfill(self) -> None:
        sent: list[str] = []

        class Sink:
            async def send(
                self, topic: str, key: Any, value: Any, headers: Any = None, *, timeout: float
            ) -> None:
                sent.append(topic)

        class Oms:
            async def get_order(self, order_id: str) -> dict[str, Any]:
                return {"orderId": order_id, "status": "invoiced", "lastChange": "2026-01-01T00:00:00Z"}

        await backfill_orders(
            ["o1"], oms=Oms(), sink=Sink(), topic=StaticInputTopic("in.g2"), account="a", app_key="k"
        )
        assert ["in.g2"] == sent


class FakeWriter:
    def __init__(self) -> None:
        self.phases: list[str] = []

    async def write(self, written: GenerationRecord) -> None:
        self.phases.append(written.phase)


class TestResume:
    """A run resumed at a recorded phase carries out only the steps from there on, in order."""

    @pytest.mark.parametrize(
        ("start", "steps", "writes"),
        [
            (
                "preparing",
                ["prepare", "seal", "drain", "migrate"],
                ["switching", "draining", "migrating", "active"],
            ),
            ("draining", ["drain", "migrate"], ["migrating", "active"]),
            ("migrating", ["migrate"], ["active"]),
            ("active", [], []),
        ],
    )
    async def test_from_phase(self, start: Phase, steps: list[str], writes: list[str]) -> None:
        run = reshard_module._Reshard(load_settings(), 6, 1.0, lambda line: None)
        writer = FakeWriter()
        done: list[str] = []

        def step(name: str) -> Callable[[GenerationRecord], Coroutine[Any, Any, None]]:
            async def go(_: GenerationRecord) -> None:
                done.append(name)

            return go

        run.writer = writer  # type: ignore[assignment]
        run._prepare = step("prepare")  # type: ignore[method-assign,assignment]
        run._seal = step("seal")  # type: ignore[method-assign,assignment]
        run._drain = step("drain")  # type: ignore[method-assign,assignment]
        run._migrate = step("migrate")  # type: ignore[method-assign,assignment]
        assert reshard_module.EXIT_OK == await run._carry(record(start))
        assert (steps, writes) == (done, writer.phases)

    async def test_invalid_partitions(self, capsys: pytest.CaptureFixture[str]) -> None:
        code = await reshard_module.run_reshard(load_settings(), partitions=0, timeout_s=5)
        assert reshard_module.EXIT_BAD_REQUEST == code
        assert "at least 1" in capsys.readouterr().err


class TestWaitingHealth:
    """A worker waiting for the migration is alive but not ready (no liveness restart meanwhile)."""

    async def test_routes(self) -> None:
        import aiohttp

        from bridge.topics.worker_switch import _serve_waiting
        from testkit.worker import free_port

        port = free_port()
        runner = await _serve_waiting(load_settings(worker_web_port=port), 2)
        assert runner is not None
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as alive:
                    assert (200, "waiting") == (alive.status, (await alive.json())["status"])
                async with session.get(f"http://127.0.0.1:{port}/readyz") as ready:
                    assert 503 == ready.status
        finally:
            await runner.cleanup()
