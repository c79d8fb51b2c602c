"""Before a worker starts: may its principal use its consumer group and its transactional ids?

Without them the refusal is met deep inside the clients: Faust's consumer keeps retrying its group
coordination without a word (a worker lacking the group ACL logged nothing at WARNING or above for
45 s: a silent hang), and each partition's writer is refused at init_transactions, retried by the
runtime with an ERROR each time. So `vtex-bridge worker` asks first, with the worker's own
credentials, and stops with a message naming the missing permission:

- one FindCoordinator request for its group (the app id) and one per transactional id of its
  partition writers (`<app id>-p<partition>`): Kafka answers GROUP_AUTHORIZATION_FAILED or
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED when the principal may not even DESCRIBE the resource;
- then, per transactional id, one AddOffsetsToTxn request for the worker's group naming no producer
  (id and epoch -1). The broker (KafkaApis.handleAddOffsetsToTxnRequest) checks WRITE on the
  transactional id, then READ on the group, and only then hands the request to the transaction
  coordinator, which refuses the unknown producer (INVALID_PRODUCER_ID_MAPPING, or NOT_COORDINATOR
  from another broker). So a principal granted DESCRIBE alone, on the ids or on the group, is refused
  here too, with the permission the worker needs: READ on the group, WRITE on the ids (what
  `vtex-bridge topics acls plan` grants).

The probe changes nothing on the cluster: no producer id is asked for, no epoch is bumped, a running
worker's producers are not fenced, and the group is neither joined nor committed to.

What it cannot see: DESCRIBE alone on the group when WRITE on the transactional ids is missing too
(the broker stops at the first refusal: the ids' is reported, the group's shows once they are granted),
and an ACL removed after the start (the writer's init_transactions then logs an ERROR naming the
transactional-id ACL, processors.writer). Any answer other than a refusal (no coordinator yet, a
timeout, a broker unreachable) is no verdict: the worker starts and its clients keep retrying, as they
would anyway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TransactionalIdAuthorizationFailed

from bridge.aiokafka_fixes import (
    client_of,
    find_coordinator,
    no_producer_add_offsets_request,
    send_admin_request,
)
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
                continue  # not even DESCRIBE: the AddOffsetsToTxn probe would be refused the same way
            except (KafkaError, TimeoutError):
                pass
            refusal = await write_and_read_refusal(admin, txn_id, group, timeout_s)
            if refusal == "transactional id":
                refused_ids.append(txn_id)
            elif refusal == "group":
                refused_group = group
    return AccessProblems(refused_group, refused_ids, settings.worker_app_id)


async def write_and_read_refusal(
    admin: AIOKafkaAdminClient, txn_id: str, group: str, timeout_s: float
) -> Literal["transactional id", "group"] | None:
    """Send one AddOffsetsToTxn naming no producer; return what the broker refused, if anything.

    "transactional id" (TRANSACTIONAL_ID_AUTHORIZATION_FAILED): no WRITE on `txn_id`; "group"
    (GROUP_AUTHORIZATION_FAILED): WRITE there but no READ on `group`. Any other answer (the coordinator
    refusing the unknown producer, a broker that is not the coordinator, a timeout) means both checks
    passed or is no verdict: None.
    """
    try:
        response = await asyncio.wait_for(
            send_admin_request(admin, no_producer_add_offsets_request(txn_id, group)), timeout_s
        )
    except (KafkaError, TimeoutError):
        return None
    code = int(response.error_code)
    if code == TransactionalIdAuthorizationFailed.errno:
        return "transactional id"
    if code == GroupAuthorizationFailedError.errno:
        return "group"
    return None
