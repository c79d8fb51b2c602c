"""The difference between the declared topic set and the cluster: a pure function, no I/O.

Each difference is an `Action` with a verdict:
- `apply`: safe and done by `topics apply` (create a missing topic, set a config, add partitions to a
  topic that is not keyed);
- `refused`: possible but dangerous, never done by `apply`: more partitions on a topic keyed by OrderId
  (orders would move to other partitions, so one order's events lose their order at the switch and the
  de-dup changelog stops matching its input; the safe path is `vtex-bridge topics reshard`), or a
  changelog or the control topic declared without compaction (deleting by time or size loses state);
- `impossible`: Kafka cannot do it in place (fewer partitions), `apply` does not do it (a replication
  change is a partition reassignment), or the cluster is already broken (a changelog not co-partitioned
  with its input);
- `info`: reported only: a topic with one of our prefixes that the settings no longer declare, either a
  *retired generation*'s (the input topic and worker topics a reshard left behind) or an *undeclared
  topic* (e.g. the status topic of a route group removed since).

`vtex-bridge topics plan` exits with `Plan.exit_code`: 0 nothing to do, 2 changes `apply` would make,
3 refused or impossible differences present (whatever else is pending).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from bridge.settings import Settings
from bridge.topics.cluster import ClusterState, TopicState
from bridge.topics.spec import CLEANUP_POLICY, TopicSpec

Verdict = Literal["apply", "refused", "impossible", "info"]
ActionKind = Literal[
    "create",
    "alter-config",
    "add-partitions",
    "increase-keyed-partitions",
    "compaction-off",
    "decrease-partitions",
    "replication-change",
    "co-partitioning",
    "too-few-brokers",
    "under-replicated",
    "retired-generation",
    "undeclared",
]

EXIT_CLEAN: Final = 0
EXIT_CHANGES: Final = 2
EXIT_REFUSED: Final = 3

RESHARD_HINT: Final = "vtex-bridge topics reshard --partitions {n}"
#: Kinds whose topics are state (the last value per key, kept forever), and what deleting it loses.
COMPACTED_KINDS: Final = {
    "changelog": "de-dup state, so duplicates would be emitted again",
    "control": "the input-generation record, so everyone would fall back to generation 1",
}


@dataclass(frozen=True, slots=True)
class ConfigChange:
    name: str
    current: str | None  # None: the topic does not exist yet
    wanted: str


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    topic: str
    verdict: Verdict
    detail: str
    #: create: the partition count to create; add-partitions: the new total.
    partitions: int | None = None
    replication_factor: int | None = None
    #: create: every config of the new topic; alter-config: the configs that change.
    changes: tuple[ConfigChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "kind": self.kind,
            "topic": self.topic,
            "verdict": self.verdict,
            "detail": self.detail,
        }
        if self.partitions is not None:
            value["partitions"] = self.partitions
        if self.replication_factor is not None:
            value["replication_factor"] = self.replication_factor
        if self.changes:
            value["configs"] = {c.name: {"current": c.current, "wanted": c.wanted} for c in self.changes}
        return value


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...] = field(default=())

    @property
    def applicable(self) -> list[Action]:
        return [a for a in self.actions if a.verdict == "apply"]

    @property
    def blocked(self) -> list[Action]:
        """Return the refused and impossible differences (what `apply` leaves as it is)."""
        return [a for a in self.actions if a.verdict in ("refused", "impossible")]

    @property
    def exit_code(self) -> int:
        if self.blocked:
            return EXIT_REFUSED
        return EXIT_CHANGES if self.applicable else EXIT_CLEAN

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [a.to_json() for a in self.actions],
            "summary": {
                "apply": len(self.applicable),
                "refused": sum(1 for a in self.actions if a.verdict == "refused"),
                "impossible": sum(1 for a in self.actions if a.verdict == "impossible"),
                "info": sum(1 for a in self.actions if a.verdict == "info"),
            },
            "exit_code": self.exit_code,
        }


def plan(
    declared: Sequence[TopicSpec],
    cluster: ClusterState,
    *,
    prefixes: tuple[str, ...] = (),
    allow_under_replicated: bool = False,
    retired: Callable[[str], int | None] | None = None,
) -> Plan:
    """Return what it takes to go from `cluster` to `declared`, each difference with its verdict.

    Topics in `cluster` that are not declared but start with one of `prefixes` are reported (`info`):
    as `retired-generation` when `retired` names the input generation they belonged to (a reshard left
    them), else as `undeclared` (e.g. an old route group's status topic).
    A topic with fewer replicas than min(3, brokers) is refused (not created) unless
    `allow_under_replicated`: one broker's loss would otherwise block or lose acknowledged records.
    """
    actions: list[Action] = []
    for spec in declared:
        under = None if allow_under_replicated else _under_replicated(spec, cluster)
        if under is not None:
            actions.append(under)
            if spec.name not in cluster.topics:
                continue  # not created under-replicated; an existing topic's other differences still count
        actions.extend(_topic_actions(spec, cluster))
    names = {spec.name for spec in declared}
    for name in sorted(cluster.topics):
        if name not in names and prefixes and name.startswith(prefixes):
            generation = None if retired is None else retired(name)
            if generation is not None:
                detail = (
                    f"retired generation {generation}'s topic: left as it is; "
                    "delete it when you no longer need it"
                )
                actions.append(Action("retired-generation", name, "info", detail))
            else:
                detail = "undeclared topic (not declared by the settings): left as it is (reported only)"
                actions.append(Action("undeclared", name, "info", detail))
    return Plan(tuple(actions))


def retired_generation(settings: Settings, name: str) -> int | None:
    """Return the input generation an *undeclared* topic belonged to, by its name, or None.

    Generation N's input topic is `<input_topic>.gN` (1: `<input_topic>`) and its worker topics start
    with `<worker_app_id>-gN-` (1: `<worker_app_id>-`); an undeclared one is a retired generation's.
    """
    inputs = re.fullmatch(re.escape(settings.input_topic) + r"(?:\.g(\d+))?", name)
    if inputs is not None:
        return int(inputs.group(1) or 1)
    app = re.match(re.escape(settings.worker_app_id) + r"(?:-g(\d+))?-", name)
    if app is not None:
        return int(app.group(1) or 1)
    return None


def _topic_actions(spec: TopicSpec, cluster: ClusterState) -> list[Action]:
    actions: list[Action] = []
    spec, refused_policy = _forced_compaction(spec)
    if refused_policy is not None:
        actions.append(refused_policy)
    source = cluster.topics.get(spec.co_partitioned_with or "")
    target = source.partition_count if source is not None else spec.partitions
    state = cluster.topics.get(spec.name)
    if state is None:
        actions.append(_create(spec, target, cluster.brokers))
        return actions
    actions.extend(_partition_actions(spec, state, source, target))
    if state.replication_factor != spec.replication_factor:
        actions.append(
            Action(
                "replication-change",
                spec.name,
                "impossible",
                f"replication factor {state.replication_factor}, declared {spec.replication_factor}: "
                "`apply` does not reassign replicas; use kafka-reassign-partitions.sh, or declare "
                f"worker_topic_replication={state.replication_factor}",
            )
        )
    changes = tuple(
        ConfigChange(name, state.configs.get(name), wanted)
        for name, wanted in sorted(spec.configs.items())
        if state.configs.get(name) != wanted
    )
    if changes:
        listed = ", ".join(f"{c.name}: {c.current} -> {c.wanted}" for c in changes)
        actions.append(Action("alter-config", spec.name, "apply", f"set {listed}", changes=changes))
    return actions


def _under_replicated(spec: TopicSpec, cluster: ClusterState) -> Action | None:
    """Refuse a topic declared (or existing) with fewer replicas than min(3, brokers)."""
    needed = min(3, cluster.brokers)
    state = cluster.topics.get(spec.name)
    have = (
        spec.replication_factor if state is None else min(spec.replication_factor, state.replication_factor)
    )
    if spec.kind == "leader" or have >= needed:  # Faust's leader topic holds nothing durable
        return None
    where = "declared" if state is None else f"has {state.replication_factor}, declared"
    return Action(
        "under-replicated",
        spec.name,
        "refused",
        f"{where} {spec.replication_factor} replica(s) on a {cluster.brokers}-broker cluster: fewer than "
        f"{needed}, so one broker's loss blocks or loses acknowledged records; declare "
        f"worker_topic_replication={needed} (and min.insync.replicas 2 on the brokers), or pass "
        "--allow-under-replicated (development only)",
    )


def _forced_compaction(spec: TopicSpec) -> tuple[TopicSpec, Action | None]:
    """Keep changelogs and the control topic compacted whatever is declared; another policy is refused."""
    if spec.kind not in COMPACTED_KINDS or spec.configs.get(CLEANUP_POLICY) == "compact":
        return spec, None
    declared = spec.configs.get(CLEANUP_POLICY)
    refused = Action(
        "compaction-off",
        spec.name,
        "refused",
        f"declared cleanup.policy={declared}: a {spec.kind} topic must stay cleanup.policy=compact "
        f"(deleting by time or size loses {COMPACTED_KINDS[spec.kind]}); kept compact",
    )
    return replace(spec, configs={**spec.configs, CLEANUP_POLICY: "compact"}), refused


def _create(spec: TopicSpec, partitions: int, brokers: int) -> Action:
    if brokers and spec.replication_factor > brokers:
        return Action(
            "too-few-brokers",
            spec.name,
            "impossible",
            f"missing; replication factor {spec.replication_factor} needs as many brokers, the cluster has "
            f"{brokers} (worker_topic_replication)",
        )
    detail = f"missing: create with {partitions} partitions x{spec.replication_factor} replicas"
    if partitions != spec.partitions:
        detail += f" (as many as {spec.co_partitioned_with}, which it must stay co-partitioned with)"
    return Action(
        "create",
        spec.name,
        "apply",
        detail,
        partitions=partitions,
        replication_factor=spec.replication_factor,
        changes=tuple(ConfigChange(k, None, v) for k, v in sorted(spec.configs.items())),
    )


def _partition_actions(
    spec: TopicSpec, state: TopicState, source: TopicState | None, target: int
) -> list[Action]:
    have = state.partition_count
    if source is not None and have != source.partition_count:
        return [
            Action(
                "co-partitioning",
                spec.name,
                "impossible",
                f"{have} partitions but {source.name} has {source.partition_count}: partition p of one no "
                "longer holds the state of partition p of the other (someone changed a partition count "
                f"by hand); reshard: {RESHARD_HINT.format(n=source.partition_count)}",
            )
        ]
    if not spec.enforce_partitions or have == target:
        return []
    if have > target:
        return [
            Action(
                "decrease-partitions",
                spec.name,
                "impossible",
                f"{have} partitions, declared {target}: Kafka cannot remove partitions; declare {have} "
                f"({_setting_of(spec)}={have}) or reshard to a new topic",
            )
        ]
    if not spec.keyed:
        return [
            Action(
                "add-partitions",
                spec.name,
                "apply",
                f"{have} -> {target} partitions (not keyed: nothing moves)",
                partitions=target,
            )
        ]
    if spec.kind in ("input", "changelog"):
        safe = f"Safe path: `{RESHARD_HINT.format(n=target)}`"
    else:
        safe = "Safe path: a new topic (e.g. a new status_topic_prefix) its consumers move to"
    return [
        Action(
            "increase-keyed-partitions",
            spec.name,
            "refused",
            f"{have} -> {target} partitions refused: the topic is keyed by OrderId, so adding partitions "
            "moves orders to other partitions (one order's events lose their order at the switch and "
            f"the de-dup changelog stops matching its input). {safe}; or keep {have} "
            f"({_setting_of(spec)}={have})",
            partitions=target,
        )
    ]


def _setting_of(spec: TopicSpec) -> str:
    """Return the setting that declares the partition count of a topic of this kind."""
    return {
        "status": "topics_status_partitions",
        "unknown": "topics_status_partitions",
        "dead-letter": "topics_dead_letter_partitions",
    }.get(spec.kind, "input_topic_partitions")
