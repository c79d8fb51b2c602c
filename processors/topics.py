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

import logging

from bridge.kafka_metadata import topic_exists
from bridge.settings import Settings
from bridge.topics.apply import apply_plan, declared_now, read_plan
from bridge.topics.cluster import admin_client

log = logging.getLogger(__name__)


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


async def missing_topics(settings: Settings) -> list[str]:
    """Return the declared topics that do not exist (Faust's leader topic aside: Faust creates it).

    Metadata only, which a worker's principal may read (its ACLs allow DESCRIBE on its topics); a
    topic it may not describe counts as missing, which `topics apply` and `topics acls apply` fix.
    """
    timeout_s = settings.topics_admin_timeout_s
    declared = [t.name for t in await declared_now(settings) if t.kind != "leader"]
    async with admin_client(settings.kafka_bootstrap_servers, timeout_s) as admin:
        client = admin._client
        return [name for name in declared if not await topic_exists(client, name)]
