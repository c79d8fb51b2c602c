"""Create the processor's missing topics at startup, exactly as `vtex-bridge topics apply` would.

Only when told to (`worker_create_topics`, which `vtex-bridge dev` sets): in production the topics are
created by an operator's `topics apply` with the declared replication, and a worker that finds one
missing refuses to start naming it (`missing_topics`) instead of creating it with whatever it has.

The topic set is `bridge.topics.spec.declared_topics(settings)`; only the plan's `create` actions are
carried out here (configs of existing topics and everything refused are left to the operator's
`topics plan|apply`). The de-dup changelog is created with the input topic's actual partition count
when the input exists, since partition p of one is the state of partition p of the other.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

from bridge.aiokafka_fixes import client_of, metadata_request
from bridge.settings import Settings
from bridge.topics.apply import apply_plan, declared_now, read_plan
from bridge.topics.cluster import admin_client

log = logging.getLogger(__name__)

UNKNOWN_TOPIC: Final = 3
TOPIC_AUTHORIZATION_FAILED: Final = 29


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every missing declared topic; return the names created."""
    timeout_s = settings.topics_admin_timeout_s
    async with admin_client(settings.kafka_bootstrap_servers, timeout_s) as admin:
        cluster, plan = await read_plan(admin, settings)
        result = await apply_plan(admin, plan, cluster, timeout_s=timeout_s, kinds=frozenset({"create"}))
    for action in plan.blocked:
        log.warning("topic differs from its declaration: %s", action.detail, extra={"topic": action.topic})
    for outcome in result.failed:
        log.error("could not create topic: %s", outcome.detail, extra={"topic": outcome.action.topic})
    if result.created:
        log.info("created topics", extra={"topics": result.created})
    return result.created


@dataclass(frozen=True, slots=True)
class TopicProblems:
    """The declared topics a worker cannot use: missing ones, and ones its principal may not describe."""

    missing: list[str]
    not_authorized: list[str]

    def message(self) -> str:
        """Say what is wrong and which command fixes it (empty when nothing is)."""
        parts = []
        if self.missing:
            parts.append(
                f"topics missing: {', '.join(self.missing)}; create them with `vtex-bridge topics apply` "
                "(development: VTEX_BRIDGE_WORKER_CREATE_TOPICS=true)"
            )
        if self.not_authorized:
            parts.append(
                f"not authorized to describe topics: {', '.join(self.not_authorized)}; the worker's "
                "principal lacks their ACLs (`vtex-bridge topics acls plan` lists them)"
            )
        return "; ".join(parts)


async def topic_problems(settings: Settings) -> TopicProblems:
    """Return the declared topics (Faust's leader topic aside: Faust creates it) the worker cannot use.

    One metadata request, which a worker's principal may make (its ACLs allow DESCRIBE on its topics):
    a missing topic and one it may not describe are told apart, since different commands fix them.
    """
    timeout_s = settings.topics_admin_timeout_s
    declared = [t.name for t in await declared_now(settings) if t.kind != "leader"]
    async with admin_client(settings.kafka_bootstrap_servers, timeout_s) as admin:
        client = client_of(admin)
        node = client.get_random_node()
        request = metadata_request(declared)
        response = await asyncio.wait_for(client.send(node, request), timeout_s)
    errors = {name: error for error, name, *_ in response.topics}
    return TopicProblems(
        missing=[n for n in declared if errors.get(n, UNKNOWN_TOPIC) == UNKNOWN_TOPIC],
        not_authorized=[n for n in declared if errors.get(n) == TOPIC_AUTHORIZATION_FAILED],
    )
