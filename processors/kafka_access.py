"""Before a worker starts: may its principal use its consumer group and its transactional ids?

Without them the refusal is met deep inside the clients: Faust's consumer keeps retrying its group
coordination without a word (a worker lacking the group ACL logged nothing at WARNING or above for
45 s: a silent hang), and each partition's writer is refused at init_transactions, retried by the
runtime with an ERROR each time. So `vtex-bridge worker` asks first, with the worker's own
credentials: one FindCoordinator request for its group (the app id) and one per transactional id of
its partition writers (`<app id>-p<partition>`). Kafka answers GROUP_AUTHORIZATION_FAILED or
TRANSACTIONAL_ID_AUTHORIZATION_FAILED when the principal may not even DESCRIBE the resource; the
documented ACLs (`vtex-bridge topics acls plan`) grant READ on the group and WRITE on the ids, each of
which implies DESCRIBE. The probe changes nothing on the cluster (no epoch is bumped, nothing fenced).

What it cannot see: a principal granted DESCRIBE alone. That one is refused later: by the group join
(inside Faust's consumer), and at a writer's init_transactions, which logs an ERROR naming the
transactional-id ACL (processors.writer).
Any answer other than a refusal (no coordinator yet, a timeout) is no verdict: the worker starts and
its clients keep retrying, as they would anyway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TransactionalIdAuthorizationFailed

from bridge.aiokafka_fixes import client_of, find_coordinator
from bridge.settings import Settings
from bridge.topics.cluster import admin_client


@dataclass(frozen=True, slots=True)
class AccessProblems:
    """The group and the transactional ids the worker's principal may not use."""

    group: str | None
    transactional_ids: list[str]
    app_id: str

    def message(self) -> str:
        """Say which permission is missing and which command lists it (empty when none is)."""
        parts = []
        if self.group is not None:
            parts.append(
                f"not authorized to use consumer group {self.group} (GroupAuthorizationFailed): the "
                f"worker's principal lacks READ on GROUP {self.app_id} (prefixed)"
            )
        if self.transactional_ids:
            ids = ", ".join(self.transactional_ids[:3]) + (", ..." if len(self.transactional_ids) > 3 else "")
            parts.append(
                f"not authorized to use transactional ids {ids} (TransactionalIdAuthorizationFailed): the "
                f"worker's principal lacks WRITE on TRANSACTIONAL_ID {self.app_id} (prefixed)"
            )
        if not parts:
            return ""
        return "; ".join(parts) + "; `vtex-bridge topics acls plan` lists every ACL the worker needs"


def transactional_ids(settings: Settings) -> list[str]:
    """The transactional ids of the worker's partition writers (`processors.writer`)."""
    return [f"{settings.worker_app_id}-p{p}" for p in range(settings.input_topic_partitions)]


async def access_problems(settings: Settings) -> AccessProblems:
    """Ask the cluster, as the worker's principal, whether it may use its group and transactional ids."""
    timeout_s = settings.topics_admin_timeout_s
    group = settings.worker_app_id
    refused_group: str | None = None
    refused_ids: list[str] = []
    async with admin_client(settings.kafka_bootstrap_servers, timeout_s) as admin:
        client = client_of(admin)
        try:
            await asyncio.wait_for(find_coordinator(client, "group", group), timeout_s)
        except GroupAuthorizationFailedError:
            refused_group = group
        except (KafkaError, TimeoutError):
            pass  # not a refusal: no verdict
        for txn_id in transactional_ids(settings):
            try:
                await asyncio.wait_for(find_coordinator(client, "transaction", txn_id), timeout_s)
            except TransactionalIdAuthorizationFailed:
                refused_ids.append(txn_id)
            except (KafkaError, TimeoutError):
                pass
    return AccessProblems(refused_group, refused_ids, settings.worker_app_id)
