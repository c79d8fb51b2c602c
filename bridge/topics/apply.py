"""Carry out the safe part of a plan: create missing topics, set configs, add partitions to unkeyed topics.

Idempotent: a second run finds nothing to do, and a topic another process created in between counts as
created. Refused and impossible differences are never acted on (see `bridge.topics.plan`); the safe
path for more input partitions is `vtex-bridge topics reshard`.

Kafka's AlterConfigs (the only one aiokafka speaks; no IncrementalAlterConfigs) replaces every
topic-level override, so a change is sent with the topic's other overrides kept as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from bridge.settings import Settings
from bridge.topics.cluster import ClusterState, admin_client, read_cluster
from bridge.topics.generation import read_record
from bridge.topics.plan import EXIT_CLEAN, EXIT_REFUSED, Action, ActionKind, Plan, plan, retired_generation
from bridge.topics.spec import TopicSpec, declared_in_use, owned_prefixes

TOPIC_ALREADY_EXISTS: Final = 36
EXIT_FAILED: Final = 1
ALL_KINDS: Final[frozenset[ActionKind]] = frozenset({"create", "alter-config", "add-partitions"})


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ApplyResult:
    plan: Plan
    outcomes: tuple[Outcome, ...]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def created(self) -> list[str]:
        return [o.action.topic for o in self.outcomes if o.ok and o.action.kind == "create"]

    @property
    def exit_code(self) -> int:
        """Return 1 when a change failed, 3 when refused/impossible differences remain, else 0."""
        if self.failed:
            return EXIT_FAILED
        return EXIT_REFUSED if self.plan.blocked else EXIT_CLEAN

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "outcomes": [
                {"topic": o.action.topic, "kind": o.action.kind, "ok": o.ok, "detail": o.detail}
                for o in self.outcomes
            ],
            "exit_code": self.exit_code,
        }


async def declared_now(settings: Settings) -> list[TopicSpec]:
    """Return the topics in use now: those of the input generation(s) the control record names."""
    return declared_in_use(settings, await read_record(settings, settings.topics_admin_timeout_s))


async def read_plan(
    admin: AIOKafkaAdminClient,
    settings: Settings,
    *,
    declared: Sequence[TopicSpec] | None = None,
    prefixes: tuple[str, ...] | None = None,
) -> tuple[ClusterState, Plan]:
    """Read the cluster and return it with the plan from it to `declared` (default: `declared_now`)."""
    declared = await declared_now(settings) if declared is None else declared
    prefixes = owned_prefixes(settings) if prefixes is None else prefixes
    cluster = await read_cluster(
        admin, [t.name for t in declared], prefixes, timeout_s=settings.topics_admin_timeout_s
    )
    return cluster, plan(
        declared,
        cluster,
        prefixes=prefixes,
        allow_under_replicated=settings.topics_allow_under_replicated,
        retired=lambda name: retired_generation(settings, name),
    )


async def apply_plan(
    admin: AIOKafkaAdminClient,
    the_plan: Plan,
    cluster: ClusterState,
    *,
    timeout_s: float,
    kinds: frozenset[ActionKind] = ALL_KINDS,
) -> ApplyResult:
    """Carry out the plan's `apply` actions of `kinds`; return what each did."""
    todo = [a for a in the_plan.applicable if a.kind in kinds]
    outcomes: list[Outcome] = []
    outcomes += await _create(admin, [a for a in todo if a.kind == "create"], timeout_s)
    outcomes += await _alter(admin, [a for a in todo if a.kind == "alter-config"], cluster, timeout_s)
    for action in (a for a in todo if a.kind == "add-partitions"):
        outcomes.append(await _add_partitions(admin, action, timeout_s))
    return ApplyResult(the_plan, tuple(outcomes))


async def apply_topics(
    settings: Settings,
    *,
    declared: Sequence[TopicSpec] | None = None,
    kinds: frozenset[ActionKind] = ALL_KINDS,
) -> ApplyResult:
    """Read the cluster, plan and apply in one admin session (what `vtex-bridge topics apply` runs)."""
    timeout_s = settings.topics_admin_timeout_s
    async with admin_client(settings.kafka_bootstrap_servers, timeout_s) as admin:
        cluster, the_plan = await read_plan(admin, settings, declared=declared)
        return await apply_plan(admin, the_plan, cluster, timeout_s=timeout_s, kinds=kinds)


async def _create(admin: AIOKafkaAdminClient, actions: list[Action], timeout_s: float) -> list[Outcome]:
    if not actions:
        return []
    new = [
        NewTopic(
            a.topic,
            a.partitions or 1,
            a.replication_factor or 1,
            topic_configs={c.name: c.wanted for c in a.changes},
        )
        for a in actions
    ]
    response = await asyncio.wait_for(
        admin.create_topics(new, timeout_ms=int(timeout_s * 1000)), timeout_s + 5.0
    )
    errors = {e["topic"]: e for e in response.to_object()["topic_errors"]}
    outcomes = []
    for action in actions:
        error = errors.get(action.topic, {})
        code = error.get("error_code", 0)
        if code == 0:
            outcomes.append(Outcome(action, True, "created"))
        elif code == TOPIC_ALREADY_EXISTS:  # another worker or operator created it meanwhile
            outcomes.append(Outcome(action, True, "already created by someone else"))
        else:
            outcomes.append(Outcome(action, False, f"error {code}: {error.get('error_message')}"))
    return outcomes


async def _alter(
    admin: AIOKafkaAdminClient, actions: list[Action], cluster: ClusterState, timeout_s: float
) -> list[Outcome]:
    if not actions:
        return []
    resources = []
    for action in actions:
        kept = dict(cluster.topics[action.topic].overrides)
        kept.update({c.name: c.wanted for c in action.changes})
        resources.append(ConfigResource(ConfigResourceType.TOPIC, action.topic, kept))
    responses = await asyncio.wait_for(admin.alter_configs(resources), timeout_s)
    errors: dict[str, dict[str, Any]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            errors[resource["resource_name"]] = resource
    outcomes = []
    for action in actions:
        error = errors.get(action.topic, {})
        code = error.get("error_code", 0)
        if code == 0:
            outcomes.append(Outcome(action, True, "configs set"))
        else:
            outcomes.append(Outcome(action, False, f"error {code}: {error.get('error_message')}"))
    return outcomes


async def _add_partitions(admin: AIOKafkaAdminClient, action: Action, timeout_s: float) -> Outcome:
    assert action.partitions is not None
    try:
        await asyncio.wait_for(
            admin.create_partitions({action.topic: NewPartitions(action.partitions)}), timeout_s
        )
    except KafkaError as exc:  # reported per action; the other actions still count
        return Outcome(action, False, f"{type(exc).__name__}: {exc}")
    return Outcome(action, True, f"{action.partitions} partitions")
