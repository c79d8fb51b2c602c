"""The declared topic set: every topic the bridge uses, with partitions, replication and configs.

Names come from `bridge.topic_names` (the one place names are derived), the status topics from the
router (route groups included). `vtex-bridge topics plan|apply`, the worker's topic creation at startup
(`processors.topics`) and the reshard procedure all build their topics here, so they never disagree.

Every topic but Faust's leader topic is keyed (by OrderId; the control topic by its one record key):
the input (ingress, feed poller), the status and dead-letter topics (downstream key) and the changelogs
(partition p holds the state of input partition p). Adding partitions to a keyed topic moves keys to
other partitions, so the plan refuses it (`bridge.topics.plan`). Late events are not a topic of their
own: they go to their status topic flagged `late: true`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from bridge.routing import RoutingConfigError, router_for
from bridge.settings import Settings, TopicsSettings
from bridge.statuses import UNKNOWN_STATUS
from bridge.topic_names import leader_topic as leader_topic
from bridge.topic_names import owners_topic
from bridge.topics.generation import (
    GenerationRecord,
    changelog_topics,
    control_topic,
    generation_app_id,
)

#: `control` is the input-generation control topic; `leader` is Faust's assignor-leader topic.
TopicKind = Literal["input", "status", "unknown", "dead-letter", "changelog", "control", "leader"]
KINDS: Final[tuple[str, ...]] = get_args(TopicKind)

CLEANUP_POLICY: Final = "cleanup.policy"
RETENTION_MS: Final = "retention.ms"
MIN_INSYNC_REPLICAS: Final = "min.insync.replicas"


class TopicSpecError(ValueError):
    """The settings declare an impossible topic set (e.g. min ISR above the replication factor)."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One declared topic.

    `co_partitioned_with` names the topic whose partition count this one must equal whatever the
    settings say (the changelog and the input): the plan creates it with its source's actual count.
    `enforce_partitions` False means `partitions` only applies when the topic is created (a status
    topic declared "as many as the input" keeps its count when the input is resharded).
    """

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(hash=False)
    keyed: bool
    kind: TopicKind
    co_partitioned_with: str | None = None
    enforce_partitions: bool = True


def topic_configs(settings: TopicsSettings, kind: TopicKind) -> dict[str, str]:
    """Return the configs declared for topics of `kind` (settings, then `topics_extra_configs`)."""
    configs: dict[str, str] = {}
    if kind == "leader":  # Faust's own topic, written with acks=0: nothing to enforce
        return dict(settings.topics_extra_configs.get(kind, {}))
    if settings.topics_min_insync_replicas is not None:  # else the brokers' own value holds
        configs[MIN_INSYNC_REPLICAS] = str(settings.topics_min_insync_replicas)
    retention = {
        "input": settings.topics_input_retention_ms,
        "status": settings.topics_status_retention_ms,
        "unknown": settings.topics_status_retention_ms,
        "dead-letter": settings.topics_dead_letter_retention_ms,
    }.get(kind)
    if retention is not None:
        configs[CLEANUP_POLICY] = "delete"
        configs[RETENTION_MS] = str(retention)
    if kind in ("changelog", "control"):  # state: the last value per key, kept forever
        configs[CLEANUP_POLICY] = "compact"
    configs.update(settings.topics_extra_configs.get(kind, {}))
    return configs


def owned_prefixes(settings: Settings) -> tuple[str, ...]:
    """Return the name prefixes of topics that are ours (every generation's), to report the topics of
    retired generations and undeclared ones."""
    try:
        status_prefixes = tuple(router_for(settings).prefixes())
    except RoutingConfigError:
        status_prefixes = ()
    return (
        settings.input_topic,
        control_topic(settings),
        settings.status_topic_prefix,
        *(p for p in status_prefixes if p != settings.status_topic_prefix),
        settings.dead_letter_topic,
        f"{settings.worker_app_id}-",
    )


def declared_topics(
    settings: Settings,
    *,
    input_topic: str | None = None,
    input_partitions: int | None = None,
    app_id: str | None = None,
) -> list[TopicSpec]:
    """Return the whole topic set of one input generation, input first.

    `settings` are the deployment's own (generation 1); `input_topic`, `input_partitions` and `app_id`
    name another generation's input topic, partition count and worker app id (which names its
    changelogs and Faust's leader topic). The status, unknown, dead-letter and control topics are shared
    by every generation; status, unknown and dead-letter topics get the input's partition count when
    they are created unless their own setting says otherwise.
    """
    _check_settings(settings)
    partitions = input_partitions if input_partitions is not None else settings.input_topic_partitions
    if partitions < 1:
        raise TopicSpecError(f"the input topic needs at least one partition, not {partitions}")
    status_partitions = settings.topics_status_partitions or partitions
    dead_letter_partitions = settings.topics_dead_letter_partitions or status_partitions
    try:  # per-account status topics name every account of the registry
        router = router_for(settings)
    except RoutingConfigError as exc:
        raise TopicSpecError(str(exc)) from None
    unknowns = {prefix + UNKNOWN_STATUS for prefix in router.prefixes()}
    topics = generation_topics(
        settings, input_topic or settings.input_topic, partitions, app_id or settings.worker_app_id
    )
    shared = [
        _spec(
            settings,
            name,
            status_partitions,
            "unknown" if name in unknowns else "status",
            fixed=settings.topics_status_partitions > 0,
        )
        for name in router.topics()
    ]
    shared.append(
        _spec(
            settings,
            settings.dead_letter_topic,
            dead_letter_partitions,
            "dead-letter",
            fixed=settings.topics_dead_letter_partitions > 0 or settings.topics_status_partitions > 0,
        )
    )
    shared.append(_spec(settings, control_topic(settings), 1, "control"))
    topics = topics[:1] + shared + topics[1:]
    _check_unique(topics)
    return topics


def generation_topics(settings: Settings, input_topic: str, partitions: int, app_id: str) -> list[TopicSpec]:
    """Return the topics of one input generation: its input, its changelogs, Faust's leader topic."""
    topics = [_spec(settings, input_topic, partitions, "input")]
    topics += [
        _spec(settings, name, partitions, "changelog", co=input_topic) for name in changelog_topics(app_id)
    ]
    topics.append(_spec(settings, leader_topic(app_id), 1, "leader", keyed=False))
    # The operator console's partition-owner claims (processors.console.directory): compacted, one partition.
    topics.append(_spec(settings, owners_topic(app_id), 1, "control"))
    return topics


def declared_in_use(settings: Settings, record: GenerationRecord | None) -> list[TopicSpec]:
    """Return the topics in use given the input-generation record (None: generation 1 only).

    During a switch (any phase but `active`) the previous generation's topics are still in use, so
    they are declared too; once the switch is done they are a retired generation's (`plan` reports them).
    """
    if record is None:
        return declared_topics(settings)
    current = record.current
    topics = declared_topics(
        settings,
        input_topic=current.topic,
        input_partitions=current.partitions,
        app_id=generation_app_id(settings, current.number),
    )
    previous = record.previous
    if previous is not None and record.phase != "active":
        names = {t.name for t in topics}
        older = generation_topics(
            settings, previous.topic, previous.partitions, generation_app_id(settings, previous.number)
        )
        topics += [t for t in older if t.name not in names]
    return topics


def inputs_in_use(settings: Settings, record: GenerationRecord | None) -> list[tuple[str, str]]:
    """Return (input topic, worker app id = consumer group) of each generation in use, newest first."""
    if record is None:
        return [(settings.input_topic, settings.worker_app_id)]
    generations = [record.current]
    if record.previous is not None and record.phase != "active":
        generations.append(record.previous)
    return [(g.topic, generation_app_id(settings, g.number)) for g in generations]


def _spec(
    settings: Settings,
    name: str,
    partitions: int,
    kind: TopicKind,
    *,
    keyed: bool = True,
    co: str | None = None,
    fixed: bool = True,
) -> TopicSpec:
    replication = settings.worker_topic_replication
    configs = topic_configs(settings, kind)
    return TopicSpec(name, partitions, replication, configs, keyed, kind, co, fixed)


def _check_settings(settings: Settings) -> None:
    replication = settings.worker_topic_replication
    if replication < 1:
        raise TopicSpecError(f"worker_topic_replication must be at least 1, not {replication}")
    min_isr = settings.topics_min_insync_replicas
    if min_isr is not None and not 1 <= min_isr <= replication:
        raise TopicSpecError(
            f"topics_min_insync_replicas={settings.topics_min_insync_replicas} must be between 1 and "
            f"worker_topic_replication={replication}: with more, acks=all writes would always fail"
        )
    unknown_kinds = set(settings.topics_extra_configs) - set(KINDS)
    if unknown_kinds:
        raise TopicSpecError(
            f"topics_extra_configs names unknown kinds {sorted(unknown_kinds)}; kinds: {', '.join(KINDS)}"
        )
    for name in ("topics_status_partitions", "topics_dead_letter_partitions"):
        if getattr(settings, name) < 0:
            raise TopicSpecError(f"{name} must be 0 (as the input) or a partition count")


def _check_unique(topics: list[TopicSpec]) -> None:
    seen: dict[str, TopicKind] = {}
    for topic in topics:
        if topic.name in seen:
            raise TopicSpecError(
                f"topic {topic.name!r} is declared both as {seen[topic.name]} and as {topic.kind}"
            )
        seen[topic.name] = topic.kind
