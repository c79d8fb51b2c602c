"""The declared topic set comes from settings alone: one source of names, sizes and configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import load_settings
from bridge.statuses import KNOWN_STATUSES
from bridge.topics.generation import Generation, GenerationRecord
from bridge.topics.spec import TopicSpecError, declared_in_use, declared_topics, inputs_in_use
from processors.routing import Router
from processors.state import changelog_topic
from processors.timeline_store import timeline_topic

GROUPED = {"all": list(KNOWN_STATUSES)}


class TestDeclaredTopics:
    """Every topic the bridge uses is declared once, with the settings' sizes and configs."""

    def test_names_come_from_the_components(self) -> None:
        settings = load_settings()
        names = [t.name for t in declared_topics(settings)]
        router = Router(settings.status_topic_prefix, settings.worker_route_groups)
        expected = {
            settings.input_topic,
            *router.topics(),
            settings.dead_letter_topic,
            changelog_topic(settings.worker_app_id),
            timeline_topic(settings.worker_app_id),
            f"{settings.worker_app_id}-__assignor-__leader",
            f"{settings.input_topic}.control",
            f"{settings.worker_app_id}-console-owners",
        }
        assert expected == set(names)
        assert len(expected) == len(names)
        assert settings.input_topic == names[0]

    def test_default_sizes_suit_a_single_local_broker(self) -> None:
        topics = declared_topics(load_settings())
        assert {1} == {t.replication_factor for t in topics}
        assert not any("min.insync.replicas" in t.configs for t in topics)  # the brokers' own value holds
        by_kind = {t.kind: t for t in topics}
        assert 12 == by_kind["input"].partitions
        assert 12 == by_kind["status"].partitions
        assert 12 == by_kind["changelog"].partitions
        assert 1 == by_kind["control"].partitions
        assert 1 == by_kind["leader"].partitions

    def test_configs_by_kind(self) -> None:
        settings = load_settings(topics_dead_letter_retention_ms=1234)
        by_kind = {t.kind: t.configs for t in declared_topics(settings)}
        assert "compact" == by_kind["changelog"]["cleanup.policy"]
        assert "compact" == by_kind["control"]["cleanup.policy"]
        assert "retention.ms" not in by_kind["changelog"]
        assert {"cleanup.policy": "delete", "retention.ms": "604800000"} == by_kind["input"]
        configured = declared_topics(load_settings(topics_min_insync_replicas=1))
        assert {"1"} == {t.configs["min.insync.replicas"] for t in configured if t.kind != "leader"}
        assert "1234" == by_kind["dead-letter"]["retention.ms"]
        assert {} == by_kind["leader"]

    def test_keyed_topics(self) -> None:
        keyed = {t.kind: t.keyed for t in declared_topics(load_settings())}
        assert {
            "input": True,
            "status": True,
            "unknown": True,
            "dead-letter": True,
            "changelog": True,
            "control": True,
            "leader": False,
        } == keyed

    def test_route_groups_shape_the_status_topics(self) -> None:
        settings = load_settings(status_topic_prefix="s.", worker_route_groups=GROUPED)
        status = {t.name: t.kind for t in declared_topics(settings) if t.kind in ("status", "unknown")}
        assert {"s.all": "status", "s.unknown": "unknown"} == status

    def test_changelogs_are_co_partitioned_with_the_input(self) -> None:
        settings = load_settings(input_topic_partitions=24)
        changelogs = [t for t in declared_topics(settings) if t.kind == "changelog"]
        assert 2 == len(changelogs)
        assert {(24, settings.input_topic)} == {(t.partitions, t.co_partitioned_with) for t in changelogs}

    def test_status_partitions_follow_the_input_only_at_creation(self) -> None:
        topics = declared_topics(load_settings(input_topic_partitions=6))
        status = next(t for t in topics if t.kind == "status")
        assert (6, False) == (status.partitions, status.enforce_partitions)
        pinned = declared_topics(load_settings(topics_status_partitions=4))
        status = next(t for t in pinned if t.kind == "status")
        dead = next(t for t in pinned if t.kind == "dead-letter")
        assert (4, True) == (status.partitions, status.enforce_partitions)
        assert (4, True) == (dead.partitions, dead.enforce_partitions)

    def test_extra_configs_win(self) -> None:
        settings = load_settings(topics_extra_configs={"status": {"compression.type": "zstd"}})
        status = next(t for t in declared_topics(settings) if t.kind == "status")
        assert "zstd" == status.configs["compression.type"]

    def test_another_generation_is_declared_by_name(self) -> None:
        settings = load_settings()
        topics = declared_topics(settings, input_topic="in.g2", input_partitions=24, app_id="app-g2")
        names = {t.name: t.partitions for t in topics}
        assert 24 == names["in.g2"]
        assert 24 == names[changelog_topic("app-g2")]
        assert 24 == names[timeline_topic("app-g2")]
        assert settings.input_topic not in names
        assert f"{settings.input_topic}.control" in names  # shared by every generation


class TestImpossibleSettings:
    """Settings that could only produce a broken topic set are refused with the reason."""

    def test_min_isr_above_replication(self) -> None:
        with pytest.raises(TopicSpecError, match="min"):
            declared_topics(load_settings(topics_min_insync_replicas=2, worker_topic_replication=1))

    def test_production_values_are_accepted(self) -> None:
        topics = declared_topics(load_settings(topics_min_insync_replicas=2, worker_topic_replication=3))
        assert {3} == {t.replication_factor for t in topics}

    def test_unknown_kind_in_extra_configs(self) -> None:
        with pytest.raises(TopicSpecError, match="unknown kinds"):
            declared_topics(load_settings(topics_extra_configs={"inptu": {"a": "b"}}))

    def test_no_partitions(self) -> None:
        with pytest.raises(TopicSpecError, match="partition"):
            declared_topics(load_settings(input_topic_partitions=0))

    def test_a_name_declared_twice(self) -> None:
        with pytest.raises(TopicSpecError, match="declared both"):
            declared_topics(load_settings(dead_letter_topic="vtex.orders.hooks"))


class TestGenerationsInUse:
    """After a reshard the current generation's topics are declared; during one, both generations'."""

    def record(self, phase: str) -> GenerationRecord:
        settings = load_settings()
        old = Generation(1, settings.input_topic, 12)
        new = Generation(2, f"{settings.input_topic}.g2", 24)
        return GenerationRecord(new, phase, old, "2026-01-01T00:00:00Z")  # type: ignore[arg-type]

    def test_no_record_is_generation_one(self) -> None:
        settings = load_settings()
        assert declared_topics(settings) == declared_in_use(settings, None)
        assert [(settings.input_topic, settings.worker_app_id)] == inputs_in_use(settings, None)

    def test_active_generation_only(self) -> None:
        settings = load_settings()
        inputs = [t.name for t in declared_in_use(settings, self.record("active")) if t.kind == "input"]
        assert [f"{settings.input_topic}.g2"] == inputs

    def test_both_generations_during_the_switch(self) -> None:
        settings = load_settings()
        topics = declared_in_use(settings, self.record("draining"))
        inputs = {t.name: t.partitions for t in topics if t.kind == "input"}
        assert {settings.input_topic: 12, f"{settings.input_topic}.g2": 24} == inputs
        changelogs = {t.name for t in topics if t.kind == "changelog"}
        app = settings.worker_app_id
        assert {changelog_topic(app), changelog_topic(f"{app}-g2")} <= changelogs
        assert len(topics) == len({t.name for t in topics})
        groups = [g for _, g in inputs_in_use(settings, self.record("draining"))]
        assert [f"{app}-g2", app] == groups


class TestPerAccountStatusTopics:
    """Per-account status topics are planned for every account of the registry."""

    def test_each_account_gets_its_status_topics(self, tmp_path: Path) -> None:
        file = tmp_path / "accounts.json"
        file.write_text('[{"account": "beta", "app_key": "k", "app_token": "t"}]')
        settings = load_settings(
            vtex_account="acme",
            accounts_file=file,
            status_topic_account_prefix="vtex.orders.{account}.status.",
        )
        topics = {t.name: t.kind for t in declared_topics(settings)}
        for account in ("acme", "beta"):
            assert "status" == topics[f"vtex.orders.{account}.status.invoiced"]
            assert "unknown" == topics[f"vtex.orders.{account}.status.unknown"]
        assert not any(name.startswith(settings.status_topic_prefix) for name in topics)

    def test_an_unusable_registry_is_a_spec_error(self, tmp_path: Path) -> None:
        settings = load_settings(
            accounts_file=tmp_path / "missing.json", status_topic_account_prefix="x.{account}."
        )
        with pytest.raises(TopicSpecError, match="cannot read accounts file"):
            declared_topics(settings)
