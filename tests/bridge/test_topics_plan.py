"""The plan is the pure difference between declared topics and the cluster, each with its verdict."""

from __future__ import annotations

from bridge.settings import load_settings
from bridge.topics.cluster import ClusterState, PartitionReplicas, TopicState
from bridge.topics.plan import EXIT_CHANGES, EXIT_CLEAN, EXIT_REFUSED, Action, plan, retired_generation
from bridge.topics.spec import TopicKind, TopicSpec

IN_CONFIGS = {"cleanup.policy": "delete", "retention.ms": "604800000", "min.insync.replicas": "2"}
CL_CONFIGS = {"cleanup.policy": "compact", "min.insync.replicas": "2"}


def spec(
    name: str,
    partitions: int = 12,
    kind: TopicKind = "input",
    *,
    configs: dict[str, str] | None = None,
    keyed: bool = True,
    co: str | None = None,
    enforce: bool = True,
    replication: int = 3,
) -> TopicSpec:
    default = CL_CONFIGS if kind == "changelog" else IN_CONFIGS
    return TopicSpec(name, partitions, replication, dict(configs or default), keyed, kind, co, enforce)


def state(
    name: str,
    partitions: int = 12,
    *,
    configs: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
    replication: int = 3,
) -> TopicState:
    replicas = tuple(range(1, replication + 1))
    parts = tuple(PartitionReplicas(p, 1, replicas, replicas) for p in range(partitions))
    return TopicState(name, parts, dict(configs or IN_CONFIGS), dict(overrides or {}))


def cluster(*topics: TopicState, brokers: int = 3) -> ClusterState:
    return ClusterState(brokers, {t.name: t for t in topics})


def declared() -> list[TopicSpec]:
    return [
        spec("in"),
        spec("st.all", kind="status", enforce=False),
        spec("cl", kind="changelog", co="in"),
        spec("leader", 1, "leader", configs={}, keyed=False),
    ]


def kinds(actions: list[Action] | tuple[Action, ...]) -> list[tuple[str, str, str]]:
    return [(a.kind, a.topic, a.verdict) for a in actions]


def matching() -> ClusterState:
    return cluster(state("in"), state("st.all"), state("cl", configs=CL_CONFIGS), state("leader", 1))


class TestNothingToDo:
    """A cluster that matches the declaration gives an empty plan and exit code 0."""

    def test_clean(self) -> None:
        result = plan(declared(), matching())
        assert [] == kinds(result.actions)
        assert EXIT_CLEAN == result.exit_code


class TestCreate:
    """Missing topics are created with their declared size and configs."""

    def test_empty_cluster_creates_everything(self) -> None:
        result = plan(declared(), cluster())
        assert [("create", t.name, "apply") for t in declared()] == kinds(result.actions)
        assert EXIT_CHANGES == result.exit_code
        create = result.actions[0]
        assert (12, 3) == (create.partitions, create.replication_factor)
        assert IN_CONFIGS == {c.name: c.wanted for c in create.changes}

    def test_changelog_created_with_its_inputs_actual_count(self) -> None:
        result = plan(declared(), cluster(state("in", 6), state("st.all"), state("leader", 1)))
        create = next(a for a in result.actions if a.topic == "cl")
        assert ("create", 6) == (create.kind, create.partitions)
        assert "co-partitioned" in create.detail

    def test_more_replicas_than_brokers_is_impossible(self) -> None:
        result = plan([spec("in")], cluster(brokers=1))
        assert [("too-few-brokers", "in", "impossible")] == kinds(result.actions)
        assert EXIT_REFUSED == result.exit_code


class TestPartitions:
    """Partition counts: keyed increases refused, decreases impossible, co-partitioning checked."""

    def test_increase_of_the_keyed_input_is_refused(self) -> None:
        wider = [spec("in", 24), *declared()[1:]]
        result = plan(wider, matching())
        assert [("increase-keyed-partitions", "in", "refused")] == kinds(result.actions)
        assert "vtex-bridge topics reshard --partitions 24" in result.actions[0].detail
        assert EXIT_REFUSED == result.exit_code
        assert [] == result.applicable

    def test_decrease_is_impossible(self) -> None:
        result = plan([spec("in", 6)], cluster(state("in", 12)))
        assert [("decrease-partitions", "in", "impossible")] == kinds(result.actions)
        assert "input_topic_partitions=12" in result.actions[0].detail

    def test_unkeyed_topic_may_grow(self) -> None:
        result = plan([spec("leader", 2, "leader", configs={}, keyed=False)], cluster(state("leader", 1)))
        assert [("add-partitions", "leader", "apply")] == kinds(result.actions)
        assert 2 == result.actions[0].partitions

    def test_status_topic_keeps_its_count_unless_pinned(self) -> None:
        grown = cluster(state("st.all", 12))
        assert [] == kinds(plan([spec("st.all", 24, "status", enforce=False)], grown).actions)
        pinned = plan([spec("st.all", 24, "status")], grown)
        assert [("increase-keyed-partitions", "st.all", "refused")] == kinds(pinned.actions)
        assert "reshard" not in pinned.actions[0].detail  # the reshard moves the input, not status topics

    def test_changelog_follows_the_input_not_the_settings(self) -> None:
        resized = [spec("in", 24), spec("cl", 24, "changelog", co="in")]
        result = plan(resized, cluster(state("in", 12), state("cl", 12, configs=CL_CONFIGS)))
        assert [("increase-keyed-partitions", "in", "refused")] == kinds(result.actions)

    def test_changelog_no_longer_co_partitioned_is_reported(self) -> None:
        result = plan(
            declared()[:3], cluster(state("in", 24), state("st.all"), state("cl", 12, configs=CL_CONFIGS))
        )
        assert ("co-partitioning", "cl", "impossible") in kinds(result.actions)


class TestConfigs:
    """Config differences are set by apply, except turning compaction off on a changelog."""

    def test_changed_retention_is_an_alter(self) -> None:
        longer = {**IN_CONFIGS, "retention.ms": "1209600000"}
        result = plan([spec("in", configs=longer)], cluster(state("in")))
        assert [("alter-config", "in", "apply")] == kinds(result.actions)
        change = result.actions[0].changes[0]
        assert ("retention.ms", "604800000", "1209600000") == (change.name, change.current, change.wanted)
        assert EXIT_CHANGES == result.exit_code

    def test_compaction_off_on_a_changelog_is_refused(self) -> None:
        deleting = {"cleanup.policy": "delete", "min.insync.replicas": "2"}
        result = plan(
            [spec("cl", kind="changelog", configs=deleting)], cluster(state("cl", configs=CL_CONFIGS))
        )
        assert [("compaction-off", "cl", "refused")] == kinds(result.actions)
        assert EXIT_REFUSED == result.exit_code

    def test_compaction_off_on_the_control_topic_is_refused(self) -> None:
        deleting = {"cleanup.policy": "delete", "min.insync.replicas": "2"}
        result = plan(
            [spec("ctl", 1, "control", configs=deleting)], cluster(state("ctl", 1, configs=CL_CONFIGS))
        )
        assert [("compaction-off", "ctl", "refused")] == kinds(result.actions)
        assert "generation" in result.actions[0].detail

    def test_a_changelog_is_created_compacted_even_then(self) -> None:
        deleting = {"cleanup.policy": "compact,delete", "min.insync.replicas": "2"}
        result = plan([spec("cl", kind="changelog", configs=deleting)], cluster())
        assert [("compaction-off", "cl", "refused"), ("create", "cl", "apply")] == kinds(result.actions)
        assert "compact" == {c.name: c.wanted for c in result.actions[1].changes}["cleanup.policy"]

    def test_a_changelog_found_deleting_is_made_compact_again(self) -> None:
        broken = {"cleanup.policy": "delete", "min.insync.replicas": "2"}
        result = plan([spec("cl", kind="changelog")], cluster(state("cl", configs=broken)))
        assert [("alter-config", "cl", "apply")] == kinds(result.actions)


class TestReportedOnly:
    """Replication changes and undeclared topics of ours are reported, never acted on."""

    def test_replication_change(self) -> None:
        result = plan([spec("in", replication=3)], cluster(state("in", replication=1)))
        assert [("under-replicated", "in", "refused"), ("replication-change", "in", "impossible")] == kinds(
            result.actions
        )


class TestDurableReplication:
    """Fewer replicas than min(3, brokers) are refused unless allowed (development)."""

    def test_a_missing_topic_is_not_created_under_replicated(self) -> None:
        result = plan([spec("in", replication=1)], cluster(brokers=3))
        assert [("under-replicated", "in", "refused")] == kinds(result.actions)
        assert EXIT_REFUSED == result.exit_code
        assert "worker_topic_replication=3" in result.actions[0].detail
        assert "--allow-under-replicated" in result.actions[0].detail

    def test_two_brokers_need_two_replicas_one_broker_one(self) -> None:
        assert [("under-replicated", "in", "refused")] == kinds(
            plan([spec("in", replication=1)], cluster(brokers=2)).actions
        )
        assert [("create", "in", "apply")] == kinds(
            plan([spec("in", replication=2)], cluster(brokers=2)).actions
        )
        assert [("create", "in", "apply")] == kinds(
            plan([spec("in", replication=1)], cluster(brokers=1)).actions
        )

    def test_allowed_for_development(self) -> None:
        result = plan([spec("in", replication=1)], cluster(brokers=3), allow_under_replicated=True)
        assert [("create", "in", "apply")] == kinds(result.actions)

    def test_faust_leader_topic_is_exempt(self) -> None:
        leader = spec("proc-__assignor-__leader", 1, "leader", configs={}, keyed=False, replication=1)
        assert [("create", leader.name, "apply")] == kinds(plan([leader], cluster(brokers=3)).actions)

    def test_undeclared_topic_with_our_prefix(self) -> None:
        others = cluster(*matching().topics.values(), state("st.old"), state("elsewhere"))
        result = plan(declared(), others, prefixes=("st.",))
        assert [("undeclared", "st.old", "info")] == kinds(result.actions)
        assert result.actions[0].detail.startswith("undeclared topic")
        assert EXIT_CLEAN == result.exit_code

    def test_retired_generation_topics_are_named_so(self) -> None:
        settings = load_settings(input_topic="in", worker_app_id="proc")
        names = ["in", "in.g2", "proc-dedup-changelog", "proc-g2-timeline-changelog", "in.gx", "procx"]
        assert [1, 2, 1, 2, None, None] == [retired_generation(settings, n) for n in names]
        result = plan(
            [],
            cluster(state("in"), state("proc-dedup-changelog"), state("in-old")),
            prefixes=("in", "proc-"),
            retired=lambda name: retired_generation(settings, name),
        )
        assert [
            ("retired-generation", "in", "info"),
            ("undeclared", "in-old", "info"),
            ("retired-generation", "proc-dedup-changelog", "info"),
        ] == kinds(result.actions)
        assert "retired generation 1" in result.actions[0].detail

    def test_json_summary(self) -> None:
        result = plan([spec("in", 24)], cluster(state("in"), state("st.x")), prefixes=("st.",))
        assert {"apply": 0, "refused": 1, "impossible": 0, "info": 1} == result.to_json()["summary"]
        assert EXIT_REFUSED == result.to_json()["exit_code"]
