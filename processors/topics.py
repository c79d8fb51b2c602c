"""Create the processor's missing topics at startup, exactly as `vtex-bridge topics apply` would.

The topic set is `bridge.topics.spec.declared_topics(settings)`; only the plan's `create` actions are
carried out here (configs of existing topics and everything refused are left to the operator's
`topics plan|apply`). The de-dup changelog is created with the input topic's actual partition count
when the input exists, since partition p of one is the state of partition p of the other.
"""

from __future__ import annotations

import logging

from bridge.settings import Settings
from bridge.topics.apply import apply_plan, read_plan
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
