"""Operator workflows over a real broker: dry runs name the active generation and say what they would do.

Each test uses fresh topic and group names and writes the control record itself where it needs a
generation other than the first, as `vtex-bridge topics reshard` would have left it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from bridge.events import build_input_event
from bridge.local_kafka import LocalKafka
from bridge.settings import Settings, load_settings
from bridge.topics.generation import (
    ControlWriter,
    Generation,
    GenerationRecord,
    control_topic,
    generation_topic,
)
from processors.records import dead_letter
from simulator.server import SimHandle
from testkit.cli import cli
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all, unique, wait_until
from testkit.worker import CONSOLE_TOKEN, VTEX_BRIDGE, WorkerConfig, WorkerProcess, produce
from testkit.worker import hook as worker_hook
from tests.support.sim import SimFactory

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]


def env_settings(monkeypatch: pytest.MonkeyPatch, bootstrap: str, **env: str) -> Settings:
    """Point the CLI at fresh names through the environment (as an operator would) and return them."""
    values = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "VTEX_BRIDGE_INPUT_TOPIC": unique("in"),
        "VTEX_BRIDGE_DEAD_LETTER_TOPIC": unique("dlq"),
        "VTEX_BRIDGE_WORKER_APP_ID": unique("proc"),
        "VTEX_BRIDGE_GENERATION_STARTUP_TIMEOUT_S": "20",
        **env,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings()


async def activate_generation_2(settings: Settings, partitions: int = 2) -> str:
    """Create generation 2's input topic and record it as active; return its name."""
    topic = generation_topic(settings, 2)
    await create_topics(settings.kafka_bootstrap_servers, topic, partitions=partitions)
    await create_topics(settings.kafka_bootstrap_servers, control_topic(settings), partitions=1)
    writer = ControlWriter(settings.kafka_bootstrap_servers, control_topic(settings))
    await writer.start()
    try:
        record = GenerationRecord(
            Generation(2, topic, partitions),
            "active",
            Generation(1, settings.input_topic, 1),
            "2026-03-01T12:00:00Z",
        )
        await writer.write(record)
    finally:
        await writer.stop()
    return topic


async def put_dead_letters(settings: Settings, count: int) -> list[str]:
    """Write `count` dead letters (order-not-found) of generation 1's input; return their event ids."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await asyncio.wait_for(producer.start(), 30)
    ids = []
    try:
        for n in range(count):
            payload: dict[str, Any] = {
                "Domain": "Marketplace",
                "OrderId": f"137000000{n:04d}-01",
                "State": "invoiced",
                "LastStatus": "handling",
                "LastChange": "2026-03-01T12:00:00.0000000Z",
                "CurrentChange": "2026-03-01T12:00:00.0000000Z",
                "Origin": {"Account": "store", "Key": "vtexappkey-store-ABC"},
            }
            event = build_input_event(payload, source="hook", account="store")
            raw = event.encode()
            letter = dead_letter(
                topic=settings.dead_letter_topic,
                input_topic=settings.input_topic,
                partition=0,
                offset=n,
                key=event.order_id.encode(),
                raw=raw,
                reason="order-not-found",
                detail="404",
                event=event,
            )
            await producer.send_and_wait(letter.topic, letter.value, key=letter.key)
            ids.append(event.event_id)
    finally:
        await asyncio.wait_for(producer.stop(), 30)
    return ids


class TestReplayDryRun:
    """`replay --dry-run` says what it would replay and where (the active generation); it moves nothing."""

    async def test_dry_run_then_replay_to_the_active_generation(
        self, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        settings = env_settings(monkeypatch, kafka_bootstrap)
        await create_topics(kafka_bootstrap, settings.input_topic, settings.dead_letter_topic)
        active = await activate_generation_2(settings)
        ids = await put_dead_letters(settings, 2)

        code, out, err = await cli(capsys, "replay", "--dry-run")
        assert 0 == code
        answer = orjson.loads(out)
        assert (0, 2, True, active) == (
            answer["replayed"],
            answer["would_replay"],
            answer["dry_run"],
            answer["input_topic"],
        )
        assert f"would replay 2 dead letter(s) to {active} (generation 2)" in err
        assert "nothing was moved" in err
        assert [] == await read_all(kafka_bootstrap, active, timeout=3)

        code, out, err = await cli(capsys, "replay")  # the dry run committed nothing: both go now
        assert 0 == code
        answer = orjson.loads(out)
        assert (2, active) == (answer["replayed"], answer["input_topic"])
        assert "would_replay" not in answer
        assert f"replayed 2 dead letter(s) to {active} (generation 2)" in err
        moved = await read_all(kafka_bootstrap, active, expected=2, timeout=30)
        assert set(ids) == {orjson.loads(m.value)["event_id"] for m in moved}
        assert [] == await read_all(kafka_bootstrap, settings.input_topic, timeout=3)


class TestBackfillDryRun:
    """`backfill --dry-run` names the input topic a real run would write now: the active generation's."""

    async def test_names_the_active_generation(
        self,
        kafka_bootstrap: str,
        sim: SimHandle,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        settings = env_settings(monkeypatch, kafka_bootstrap, VTEX_BRIDGE_VTEX_BASE_URL=sim.base_url)
        await create_topics(kafka_bootstrap, settings.input_topic)
        transitions = list(sim.workload(orders=2).transitions())
        for transition in transitions:
            sim.emit(transition)
        ids_file = tmp_path / "ids.txt"
        ids_file.write_text("\n".join(dict.fromkeys(t.order_id for t in transitions)) + "\n")

        code, _, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--dry-run")
        assert 0 == code
        assert f"built, would be produced to {settings.input_topic} (generation 1)" in err

        active = await activate_generation_2(settings)
        code, out, err = await cli(capsys, "backfill", "--order-ids", str(ids_file), "--dry-run")
        assert 0 == code and 2 == len(out.splitlines())
        built = f"backfill (dry run): 2 event(s) of account {settings.vtex_account} built"
        assert f"{built}, would be produced to {active} (generation 2)" in err
        assert [] == await read_all(kafka_bootstrap, active, timeout=3)


def describe_rows(text: str, names: set[str]) -> list[str]:
    """Return the table rows of `topics describe` text that name one of `names`."""
    return [line for line in text.splitlines() if line.split(" ", 1)[0] in names]


class TestTopicsDescribe:
    """`topics describe` reads well on a fresh broker and with long names; old generations are named."""

    async def test_fresh_broker_and_long_names(
        self, own_kafka: LocalKafka, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        long_input = unique("orders-of-a-store-with-a-rather-long-topic-name-in")  # over 48 characters
        assert len(long_input) > 48
        env_settings(
            monkeypatch,
            own_kafka.bootstrap,
            VTEX_BRIDGE_INPUT_TOPIC=long_input,
            VTEX_BRIDGE_TOPICS_ALLOW_UNDER_REPLICATED="true",
        )
        code, _, err = await cli(capsys, "topics", "apply")
        assert 0 == code, err
        code, out, err = await cli(capsys, "topics", "describe")  # no group ever existed on this broker
        assert 0 == code, err
        assert "Error" not in out + err
        assert "no group yet, 0 member(s)" in out
        header = next(line for line in out.splitlines() if line.startswith("topic "))
        rows = [line for line in out.splitlines() if line.startswith(long_input)]
        assert rows, out
        kind_at = header.index("kind")
        for row in rows:  # every row's second column starts under the header's: nothing pushed aside
            name = row.split(" ", 1)[0]
            assert row[len(name) : kind_at].strip() == "", row
            assert row[kind_at] != " ", row

    async def test_retired_generation_in_plan_and_describe(
        self, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        settings = env_settings(
            monkeypatch, kafka_bootstrap, VTEX_BRIDGE_TOPICS_ALLOW_UNDER_REPLICATED="true"
        )
        assert 0 == (await cli(capsys, "topics", "apply"))[0]
        await activate_generation_2(settings)
        assert 0 == (await cli(capsys, "topics", "apply"))[0]  # generation 2's topics

        async def settled() -> bool:  # the created topics show in the metadata of every broker
            return 0 == (await cli(capsys, "topics", "plan"))[0]

        await wait_until(settled, timeout=30, message="generation 2's topics visible")
        code, out, _ = await cli(capsys, "topics", "plan")
        assert 0 == code, out
        assert f"? retired-generation         {settings.input_topic}: retired generation 1's topic" in out, (
            out
        )
        assert "extra" not in out and "undeclared" not in out

        code, out, _ = await cli(capsys, "topics", "describe", "--json")
        by_name = {t["name"]: t for t in orjson.loads(out)["topics"]}
        assert ("retired", 1) == (
            by_name[settings.input_topic]["kind"],
            by_name[settings.input_topic]["generation"],
        )
        assert "input" == by_name[generation_topic(settings, 2)]["kind"]
        code, out, _ = await cli(capsys, "topics", "describe")
        assert "retired (g1)" in describe_rows(out, {settings.input_topic})[0]


def order_cli(worker: WorkerProcess, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `vtex-bridge order ... --url <worker console>` as an operator would (its own process)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VTEX_BRIDGE_")}
    done = subprocess.run(
        [str(VTEX_BRIDGE), "order", *args, "--url", f"http://127.0.0.1:{worker.console_port}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": CONSOLE_TOKEN, **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


async def order_json(worker: WorkerProcess, order_id: str) -> dict[str, Any]:
    code, out, err = await asyncio.to_thread(order_cli, worker, order_id, "--json")
    return orjson.loads(out) if code == 0 else {"exit": code, "stderr": err}


class TestOrderPendingAndReplays:
    """`vtex-bridge order` shows events in their not-found grace or backoff as pending, and a replayed
    event's row as a replay (new input offset, when, from which dead letter)."""

    async def test_pending_then_dead_lettered_then_replayed(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        config.extra["VTEX_BRIDGE_WORKER_NOT_FOUND_GRACE_S"] = "15"
        config.extra["VTEX_BRIDGE_WORKER_RETRY_BACKOFF_MAX_S"] = "2"
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        missing = worker_hook("ord-missing", "invoiced", 0.0)
        down = worker_hook("ord-down", "handling", 0.0)
        fake_oms.not_found_calls["ord-missing"] = -1
        fake_oms.failing["ord-down"] = 503
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            await produce(kafka_bootstrap, config.input_topic, [missing, down])

            async def pending(order_id: str, reason: str) -> bool:
                body = await order_json(worker, order_id)
                return reason in [p["waiting"]["reason"] for p in body.get("pending", [])]

            await wait_until(lambda: pending("ord-missing", "not-found-grace"), timeout=30, message="grace")
            code, out, err = await asyncio.to_thread(order_cli, worker, "ord-missing")
            assert 0 == code, err
            assert "never seen" not in out + err
            assert "no outcome committed yet" in out
            assert "pending: 1 event(s) not processed yet" in out
            assert "OMS answers 404: not-found grace until" in out
            (entry,) = (await order_json(worker, "ord-missing"))["pending"]
            assert (missing.event_id, "in-flight", "oms-404") == (
                entry["event_id"],
                entry["status"],
                entry["waiting"]["cause"],
            )

            await wait_until(lambda: pending("ord-down", "retry-backoff"), timeout=30, message="backoff")
            code, out, _ = await asyncio.to_thread(order_cli, worker, "ord-down")
            assert 0 == code and "retrying after a oms failure: attempt" in out

            # The grace runs out: dead-lettered; then the order is readable and the dead letter replayed.
            (letter,) = await read_all(kafka_bootstrap, config.dead_letter_topic, expected=1, timeout=60)
            fake_oms.not_found_calls.pop("ord-missing")
            replay = await asyncio.create_subprocess_exec(
                str(VTEX_BRIDGE), "replay", env=config.env(worker.port), stdout=asyncio.subprocess.DEVNULL
            )
            assert 0 == await asyncio.wait_for(replay.wait(), 60)

            async def replayed() -> bool:
                return 2 == len((await order_json(worker, "ord-missing")).get("timeline", []))

            await wait_until(replayed, timeout=60, message="the replay's outcome in the timeline")
            body = await order_json(worker, "ord-missing")
            original, again = body["timeline"]
            assert ("dead_lettered", "emitted") == (original["outcome"], again["outcome"])
            assert "replay" not in original
            assert original["event_id"] == again["event_id"]
            assert again["input"]["offset"] > original["input"]["offset"]
            place = {
                "topic": config.dead_letter_topic,
                "partition": letter.partition,
                "offset": letter.offset,
            }
            assert place == again["replay"]["dead_letter"]
            assert again["replay"]["replayed_at"]
            assert [] == body["pending"]
            code, out, _ = await asyncio.to_thread(order_cli, worker, "ord-missing")
            rows = out.splitlines()
            assert "hook (replay)" in rows[-2] or "hook (replay)" in rows[-1], out
            where = f"{config.dead_letter_topic}[{letter.partition}]@{letter.offset}"
            assert f"replayed at {again['replay']['replayed_at']} from {where}" in out
            fake_oms.failing.pop("ord-down")
            assert 0 == await worker.terminate()


class TestReshardProgress:
    """A reshard's drain names the partition, the event it waits on and why (here: a not-found grace)."""

    async def test_drain_names_the_waiting_event(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        from pydantic import SecretStr

        from bridge.topics.reshard import EXIT_OK, run_reshard

        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        config.extra["VTEX_BRIDGE_WORKER_NOT_FOUND_GRACE_S"] = "20"
        config.extra["VTEX_BRIDGE_GENERATION_REFRESH_S"] = "0.2"
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        slow = worker_hook("ord-slow", "invoiced", 0.0)
        fake_oms.not_found_calls["ord-slow"] = -1  # never found: it waits its whole grace
        lines: list[str] = []
        worker = WorkerProcess(config, tmp_path)
        try:
            await worker.start()
            settings = load_settings(
                kafka_bootstrap_servers=kafka_bootstrap,
                kafka_embedded=False,
                input_topic=config.input_topic,
                input_topic_partitions=config.partitions,
                worker_app_id=config.app_id,
                status_topic_prefix=config.status_prefix,
                dead_letter_topic=config.dead_letter_topic,
                generation_refresh_s=0.2,
                console_port=worker.console_port,
                console_admin_token=SecretStr(CONSOLE_TOKEN),
            )
            await produce(kafka_bootstrap, config.input_topic, [slow])
            code = await run_reshard(settings, partitions=3, quiet_s=0.5, timeout_s=150, out=lines.append)
            assert EXIT_OK == code, "\n".join(lines)
            await worker.wait_for(lambda h: len(h.get("partitions", [])) == 3, 90, "generation 2")
            assert 0 == await worker.terminate()
        finally:
            worker.kill()
        report = "\n".join(lines)
        waiting = [
            line for line in lines if "waiting on order ord-slow" in line and "(state invoiced)" in line
        ]
        assert waiting, report
        assert "1 left from offset 0" in waiting[0]
        assert "OMS answers 404: not-found grace until" in waiting[0], report
        assert any(
            line.startswith(f"reshard: draining {config.input_topic}: 1 record(s) left") for line in lines
        )


class TestCliOutput:
    """One-shot commands keep their output readable whatever the log format: the result alone on stdout,
    human progress lines on stderr, no JSON log lines unless a level was asked for."""

    async def test_replay_output_with_json_logs(
        self, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = env_settings(monkeypatch, kafka_bootstrap)
        await create_topics(kafka_bootstrap, settings.input_topic, settings.dead_letter_topic)
        await put_dead_letters(settings, 1)
        base = {k: v for k, v in os.environ.items() if not k.startswith("VTEX_BRIDGE_")}
        env = {
            **base,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "VTEX_BRIDGE_INPUT_TOPIC": settings.input_topic,
            "VTEX_BRIDGE_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
            "VTEX_BRIDGE_WORKER_APP_ID": settings.worker_app_id,
            "VTEX_BRIDGE_LOG_FORMAT": "json",
        }

        def run(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(VTEX_BRIDGE), "replay", "--dry-run"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**env, **extra},
            )

        quiet = await asyncio.to_thread(run, {})
        assert 0 == quiet.returncode, quiet.stderr
        assert 1 == orjson.loads(quiet.stdout)["would_replay"]  # stdout: the result, nothing else
        assert [] == [line for line in quiet.stderr.splitlines() if line.startswith("{")], quiet.stderr
        assert quiet.stderr.startswith("replay (dry run): would replay 1 dead letter(s)")

        verbose = await asyncio.to_thread(run, {"VTEX_BRIDGE_LOG_LEVEL": "INFO"})  # asked for: logs too
        assert 0 == verbose.returncode
        assert 1 == orjson.loads(verbose.stdout)["would_replay"]
        logs = [orjson.loads(line) for line in verbose.stderr.splitlines() if line.startswith("{")]
        assert "replay finished" in [entry["msg"] for entry in logs]
        human = [line for line in verbose.stderr.splitlines() if not line.startswith("{")]
        assert ["replay (dry run)"] == [line.split(":")[0] for line in human]  # whole lines, never cut


class TestBackfillPerAccount:
    """`backfill --account` reads that account's OMS with its credentials and stamps its name on the
    events; an order of another account is not found there; `--order-ids` refuses `--all-accounts`."""

    async def test_each_account_from_its_own_oms(
        self,
        kafka_bootstrap: str,
        sim_factory: SimFactory,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        stores = {}
        for number, name in enumerate(("storea", "storeb"), start=1):
            key, token = f"vtexappkey-{name}-KEY", f"token-of-{name}-0123456789"
            sim = await sim_factory(seed=number, account=name, app_key=key, app_token=token)
            transitions = list(sim.workload(orders=2).transitions())
            for transition in transitions:
                sim.emit(transition)
            ids = list(dict.fromkeys(t.order_id for t in transitions))
            stores[name] = (sim, key, token, ids)
        assert not set(stores["storea"][3]) & set(stores["storeb"][3])
        accounts_file = tmp_path / "accounts.json"
        accounts_file.write_bytes(
            orjson.dumps(
                [
                    {"account": name, "app_key": key, "app_token": token, "base_url": sim.base_url}
                    for name, (sim, key, token, _) in stores.items()
                ]
            )
        )
        settings = env_settings(monkeypatch, kafka_bootstrap, VTEX_BRIDGE_ACCOUNTS_FILE=str(accounts_file))
        await create_topics(kafka_bootstrap, settings.input_topic, partitions=2)
        b_ids = tmp_path / "b.txt"
        b_ids.write_text("\n".join(stores["storeb"][3]) + "\n")

        code, out, err = await cli(capsys, "backfill", "--order-ids", str(b_ids), "--account", "storeb")
        assert 0 == code, err
        assert "backfill: 2 event(s) of account storeb produced to" in err
        assert {("storeb", i) for i in stores["storeb"][3]} == {
            (line.split("\t")[4], line.split("\t")[0]) for line in out.splitlines()
        }
        records = await read_all(kafka_bootstrap, settings.input_topic, expected=2, timeout=30)
        values = [orjson.loads(r.value) for r in records]
        assert {("storeb", "backfill")} == {(v["account"], v["source"]) for v in values}
        assert set(stores["storeb"][3]) == {v["OrderId"] for v in values}
        assert {"storeb"} == {v["Origin"].get("Account") for v in values}

        # storeb's orders do not exist in the default account (storea): read there, they are not found.
        code, _, err = await cli(capsys, "backfill", "--order-ids", str(b_ids), "--dry-run")
        assert 1 == code
        assert f"order {stores['storeb'][3][0]} not found in OMS of account storea" in err

        code, _, err = await cli(capsys, "backfill", "--order-ids", str(b_ids), "--all-accounts")
        assert 2 == code and "an order id belongs to one account" in err
        code, _, err = await cli(capsys, "backfill", "--order-ids", str(b_ids), "--account", "nope")
        assert 2 == code and "unknown account 'nope'; configured: storea, storeb" in err
