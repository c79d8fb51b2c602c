"""`vtex-bridge topics plan|apply|describe` against a real broker, as an operator runs them.

Each test names its own topics (input, status prefix, dead-letter, app id), so the plan only ever sees
that test's topics; every status is routed to one topic to keep the set small.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bridge.cli import main
from bridge.events import InputEvent
from bridge.settings import load_settings
from bridge.statuses import KNOWN_STATUSES
from bridge.topics.cluster import admin_client, read_cluster
from bridge.topics.plan import EXIT_CHANGES, EXIT_CLEAN, EXIT_REFUSED
from processors.state import changelog_topic
from processors.topics import ensure_topics
from testkit.kafka import unique
from testkit.worker import VTEX_BRIDGE, hook, produce

pytestmark = pytest.mark.integration

PARTITIONS = 6


class Names:
    def __init__(self) -> None:
        self.input = unique("tin")
        self.prefix = unique("tst") + "."
        self.dead_letter = unique("tdlq")
        self.app = unique("tapp")

    @property
    def changelog(self) -> str:
        return changelog_topic(self.app)

    def all(self) -> set[str]:
        return {
            self.input,
            f"{self.input}.control",
            self.prefix + "all",
            self.prefix + "unknown",
            self.dead_letter,
            self.changelog,
            f"{self.app}-timeline-changelog",
            f"{self.app}-__assignor-__leader",
            f"{self.app}-console-owners",
        }


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str) -> Iterator[Names]:
    names = Names()
    for key in [k for k in os.environ if k.startswith("VTEX_BRIDGE_")]:
        monkeypatch.delenv(key)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "VTEX_BRIDGE_INPUT_TOPIC": names.input,
        "VTEX_BRIDGE_STATUS_TOPIC_PREFIX": names.prefix,
        "VTEX_BRIDGE_DEAD_LETTER_TOPIC": names.dead_letter,
        "VTEX_BRIDGE_WORKER_APP_ID": names.app,
        "VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS": str(PARTITIONS),
        "VTEX_BRIDGE_WORKER_ROUTE_GROUPS": orjson.dumps({"all": list(KNOWN_STATUSES)}).decode(),
        "VTEX_BRIDGE_LOG_LEVEL": "WARNING",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield names


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Run `vtex-bridge topics ... --json`; return the exit code and the parsed JSON output."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["topics", *argv, "--json"])
    out = capsys.readouterr().out.strip()
    return code, orjson.loads(out) if out else None


async def topics_of(bootstrap: str, names: Names) -> dict[str, Any]:
    async with admin_client(bootstrap, 30.0) as admin:
        cluster = await read_cluster(admin, names.all(), (), timeout_s=30.0)
    return cluster.topics


class TestPlanAndApply:
    """plan shows what is missing, apply creates it, and both are idempotent from there."""

    async def test_empty_then_applied_then_clean(
        self, names: Names, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, planned = await cli(capsys, "plan")
        assert EXIT_CHANGES == code
        assert names.all() == {a["topic"] for a in planned["actions"] if a["kind"] == "create"}

        code, applied = await cli(capsys, "apply")
        assert EXIT_CLEAN == code
        assert names.all() == {o["topic"] for o in applied["outcomes"] if o["ok"]}

        code, planned = await cli(capsys, "plan")
        assert (EXIT_CLEAN, []) == (code, planned["actions"])
        code, applied = await cli(capsys, "apply")
        assert (EXIT_CLEAN, []) == (code, applied["outcomes"])

        topics = await topics_of(kafka_bootstrap, names)
        assert PARTITIONS == topics[names.input].partition_count
        assert PARTITIONS == topics[names.changelog].partition_count
        assert "compact" == topics[names.changelog].configs["cleanup.policy"]
        assert str(30 * 24 * 3600 * 1000) == topics[names.dead_letter].configs["retention.ms"]
        assert 1 == topics[f"{names.app}-__assignor-__leader"].partition_count

    async def test_worker_startup_creates_what_apply_would(
        self, names: Names, capsys: pytest.CaptureFixture[str]
    ) -> None:
        created = await ensure_topics(load_settings())
        assert names.all() == set(created)
        code, planned = await cli(capsys, "plan")
        assert (EXIT_CLEAN, []) == (code, planned["actions"])

    async def test_config_change_keeps_other_overrides(
        self,
        names: Names,
        kafka_bootstrap: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        assert EXIT_CLEAN == (await cli(capsys, "apply"))[0]
        # An override set by hand (not declared) must survive apply's non-incremental AlterConfigs.
        async with admin_client(kafka_bootstrap, 30.0) as admin:
            current = (await topics_of(kafka_bootstrap, names))[names.dead_letter].overrides
            by_hand = {**current, "max.message.bytes": "2097152"}
            resource = ConfigResource(ConfigResourceType.TOPIC, names.dead_letter, by_hand)
            await asyncio.wait_for(admin.alter_configs([resource]), 30)
        monkeypatch.setenv("VTEX_BRIDGE_TOPICS_DEAD_LETTER_RETENTION_MS", str(14 * 24 * 3600 * 1000))

        code, planned = await cli(capsys, "plan")
        assert EXIT_CHANGES == code
        assert [("alter-config", names.dead_letter)] == [(a["kind"], a["topic"]) for a in planned["actions"]]
        assert EXIT_CLEAN == (await cli(capsys, "apply"))[0]

        configs = (await topics_of(kafka_bootstrap, names))[names.dead_letter].configs
        assert str(14 * 24 * 3600 * 1000) == configs["retention.ms"]
        assert "2097152" == configs["max.message.bytes"]
        assert (EXIT_CLEAN, []) == ((r := await cli(capsys, "plan"))[0], r[1]["actions"])


class TestRefused:
    """Dangerous changes are refused by plan and apply, with a clear message and exit code 3."""

    async def test_more_input_partitions_refused(
        self,
        names: Names,
        kafka_bootstrap: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        assert EXIT_CLEAN == (await cli(capsys, "apply"))[0]
        monkeypatch.setenv("VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS", str(PARTITIONS * 2))

        code, planned = await cli(capsys, "plan")
        assert EXIT_REFUSED == code
        refused = [a for a in planned["actions"] if a["verdict"] == "refused"]
        assert [("increase-keyed-partitions", names.input)] == [(a["kind"], a["topic"]) for a in refused]
        assert f"vtex-bridge topics reshard --partitions {PARTITIONS * 2}" in refused[0]["detail"]

        code, applied = await cli(capsys, "apply")
        assert (EXIT_REFUSED, []) == (code, applied["outcomes"])
        topics = await topics_of(kafka_bootstrap, names)
        assert PARTITIONS == topics[names.input].partition_count
        assert PARTITIONS == topics[names.changelog].partition_count

    async def test_text_output_explains_the_refusal(
        self, names: Names, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert EXIT_CLEAN == (await cli(capsys, "apply"))[0]
        monkeypatch.setenv("VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS", "24")
        capsys.readouterr()
        assert EXIT_REFUSED == await asyncio.to_thread(main, ["topics", "plan"])
        out = capsys.readouterr().out
        assert "! increase-keyed-partitions" in out
        assert "keyed by OrderId" in out
        assert "1 refused" in out

    async def test_compaction_off_on_changelog_refused(
        self,
        names: Names,
        kafka_bootstrap: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        assert EXIT_CLEAN == (await cli(capsys, "apply"))[0]
        monkeypatch.setenv(
            "VTEX_BRIDGE_TOPICS_EXTRA_CONFIGS",
            orjson.dumps({"changelog": {"cleanup.policy": "delete"}}).decode(),
        )
        code, planned = await cli(capsys, "plan")
        assert EXIT_REFUSED == code
        refused = {(a["kind"], a["topic"]) for a in planned["actions"] if a["verdict"] == "refused"}
        assert ("compaction-off", names.changelog) in refused
        assert EXIT_REFUSED == (await cli(capsys, "apply"))[0]
        topics = await topics_of(kafka_bootstrap, names)
        assert "compact" == topics[names.changelog].configs["cleanup.policy"]


class TestDescribe:
    """describe shows our topics as the cluster has them and the worker group's lag per partition."""

    async def test_describe(
        self, names: Names, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, report = await cli(capsys, "describe")
        assert 0 == code
        assert {False} == {t["exists"] for t in report["topics"]}

        assert EXIT_CLEAN == (await cli(capsys, "apply"))[0]
        events: list[InputEvent] = [hook(f"order-{i}", "invoiced", float(i)) for i in range(5)]
        await produce(kafka_bootstrap, names.input, events)

        code, report = await cli(capsys, "describe")
        assert 0 == code
        by_name = {t["name"]: t for t in report["topics"]}
        assert names.all() == set(by_name)
        source = by_name[names.input]
        assert (PARTITIONS, 1, "input") == (
            source["partitions"],
            source["replication_factor"],
            source["kind"],
        )
        assert "compact" == by_name[names.changelog]["configs"]["cleanup.policy"]
        assert names.app == source["group"]
        assert PARTITIONS == len(source["group_lag"])
        assert 5 == source["total_lag"]  # the group never committed: everything is lag
        assert [names.app] == [g["id"] for g in report["groups"]]

    async def test_text(self, names: Names, capsys: pytest.CaptureFixture[str]) -> None:
        assert EXIT_CLEAN == (await cli(capsys, "apply"))[0]
        capsys.readouterr()
        assert 0 == await asyncio.to_thread(main, ["topics", "describe"])
        out = capsys.readouterr().out
        assert names.input in out
        assert f"lag of {names.app}: 0" in out


class TestErrors:
    """An unreachable cluster or impossible settings give exit code 1 and a message, not a traceback."""

    async def test_unreachable_cluster(
        self, names: Names, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from bridge.local_kafka import free_port

        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
        monkeypatch.setenv("VTEX_BRIDGE_TOPICS_ADMIN_TIMEOUT_S", "3")
        capsys.readouterr()
        assert 1 == await asyncio.to_thread(main, ["topics", "plan"])
        assert "failed" in capsys.readouterr().err

    async def test_min_isr_above_replication(
        self, names: Names, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_TOPICS_MIN_INSYNC_REPLICAS", "2")
        capsys.readouterr()
        assert 1 == await asyncio.to_thread(main, ["topics", "apply"])
        assert "invalid topic settings" in capsys.readouterr().err


class TestWorkerWithoutTopics:
    """Outside development a worker does not create topics: it refuses to start and names them."""

    def test_refuses_naming_topics_apply(self, names: Names, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_WORKER_CREATE_TOPICS", "false")
        monkeypatch.setenv("VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN", "k7Qm2xV9pL4sT8wZ1rN6yB3cF5hJ0dGa")
        done = subprocess.run(
            [str(VTEX_BRIDGE), "worker"], env=dict(os.environ), capture_output=True, text=True, timeout=60
        )
        assert 2 == done.returncode, done.stderr
        err = done.stderr
        assert "topics missing" in err and names.input in err and "vtex-bridge topics apply" in err
        topics = asyncio.run(topics_of_names(names))
        assert names.input not in topics  # nothing was created


async def topics_of_names(names: Names) -> set[str]:
    async with admin_client(load_settings().kafka_bootstrap_servers, 10.0) as admin:
        return set(await admin.list_topics())
