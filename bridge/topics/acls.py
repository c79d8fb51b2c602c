"""ACLs as code: the least privileges each service's principal needs, diffed against the cluster.

`declared_acls(settings)` lists, per service, exactly what its clients do:

- ingress and feed poller (also `backfill`): write the input topic (and later input generations, named
  `<input>.g<N>`), read the control topic that names the current generation;
- worker: read the input and control topics; write the status topics (by prefix) and the dead-letter
  topic; read them back for the console; read, write and create its own topics (changelogs, Faust's
  leader topic, the console's owner claims: all named `<app id>...`); its consumer group and its
  partition writers' transactional ids, both by the app-id prefix;
- console (an operator running `vtex-bridge replay`): read the dead-letter topic with its group
  `<app id>-replay`, write the input topic, read the control topic.

Idempotent producers need no cluster permission on Kafka 3.x (a topic's WRITE implies it). `plan`
compares with the cluster's ACLs for those principals; `apply` creates what is missing, never removes
(extra ACLs are reported for an operator to judge).

aiokafka's admin client has no ACL calls, so the requests are built from its protocol classes
(CreateAcls v1, DescribeAcls v1) and sent through its connection.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code

from bridge.aiokafka_fixes import create_acls_request, describe_acls_request, send_admin_request
from bridge.routing import router_for
from bridge.settings import Settings, TopicsSettings
from bridge.topic_names import control_topic, replay_group

SERVICES: Final = ("ingress", "worker", "console", "feed-poller")
EXIT_OK: Final = 0
EXIT_PENDING: Final = 2
EXIT_ERROR: Final = 1


class ResourceType(enum.IntEnum):
    """Kafka's resource types (the protocol's numbers)."""

    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(enum.IntEnum):
    ANY = 1
    LITERAL = 3
    PREFIXED = 4


class Operation(enum.IntEnum):
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


ALLOW: Final = 3
ANY_PERMISSION: Final = 1


class AclError(RuntimeError):
    """The cluster refused an ACL request; the message names it and Kafka's error."""


@dataclass(frozen=True, order=True, slots=True)
class Acl:
    """One ALLOW rule: `principal` may do `operation` on the resource, from any host."""

    principal: str
    resource_type: str
    resource: str
    pattern: str
    operation: str

    def text(self) -> str:
        where = f"{self.resource}*" if self.pattern == "PREFIXED" else self.resource
        return f"{self.principal} {self.operation} {self.resource_type} {where}"

    def to_json(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "resource_type": self.resource_type,
            "resource": self.resource,
            "pattern": self.pattern,
            "operation": self.operation,
        }


def principal(settings: TopicsSettings, service: str) -> str:
    """Return the Kafka principal of `service` (`topics_acl_principals`, default `User:<service>`)."""
    return settings.topics_acl_principals.get(service, f"User:{service}")


def declared_acls(settings: Settings) -> list[Acl]:
    """Return every ACL the services need, sorted (see the module docstring for why each exists)."""
    app = settings.worker_app_id
    control = control_topic(settings)
    rules: list[tuple[str, ResourceType, str, PatternType, tuple[Operation, ...]]] = []
    read, write, describe, create = Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.CREATE
    topic, group, txn = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    literal, prefixed = PatternType.LITERAL, PatternType.PREFIXED
    generations = f"{settings.input_topic}.g"
    for writer in ("ingress", "feed-poller", "console"):
        rules += [
            (writer, topic, settings.input_topic, literal, (write, describe)),
            (writer, topic, generations, prefixed, (write, describe)),
            (writer, topic, control, literal, (read, describe)),
        ]
    rules += [
        ("console", topic, settings.dead_letter_topic, literal, (read, describe)),
        ("console", group, replay_group(app), literal, (read,)),
        ("worker", topic, settings.input_topic, literal, (read, describe)),
        ("worker", topic, generations, prefixed, (read, describe)),
        ("worker", topic, control, literal, (read, describe)),
        ("worker", topic, settings.status_topic_prefix, prefixed, (read, write, describe)),
        *(  # per-account status topics (`status_topic_account_prefix`): each account's own prefix
            ("worker", topic, prefix, prefixed, (read, write, describe))
            for prefix in router_for(settings).prefixes()
            if prefix != settings.status_topic_prefix
        ),
        ("worker", topic, settings.dead_letter_topic, literal, (read, write, describe)),
        ("worker", topic, app, prefixed, (read, write, describe, create)),
        ("worker", group, app, prefixed, (read, describe)),
        ("worker", txn, app, prefixed, (write, describe)),
    ]
    acls = {
        Acl(principal(settings, service), kind.name, name, pattern.name, operation.name)
        for service, kind, name, pattern, operations in rules
        for operation in operations
    }
    return sorted(acls)


@dataclass(frozen=True, slots=True)
class AclPlan:
    """What `apply` would add, what is there already, and extra ACLs of our principals."""

    missing: list[Acl]
    present: list[Acl]
    extra: list[Acl]

    @property
    def exit_code(self) -> int:
        return EXIT_PENDING if self.missing else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "missing": [a.to_json() for a in self.missing],
            "present": [a.to_json() for a in self.present],
            "extra": [a.to_json() for a in self.extra],
        }

    def text(self) -> str:
        lines = [f"+ {a.text()}" for a in self.missing]
        lines += [f"? {a.text()}  (not declared; left alone)" for a in self.extra]
        summary = f"{len(self.missing)} to add, {len(self.present)} in place, {len(self.extra)} extra"
        return "\n".join([*lines, summary])


async def cluster_acls(admin: AIOKafkaAdminClient, principals: set[str]) -> set[Acl]:
    """Return the ALLOW ACLs the cluster holds for `principals` (one DescribeAcls for all)."""
    request = describe_acls_request(
        ResourceType.ANY,
        None,
        PatternType.ANY,
        None,
        None,
        Operation.ANY,
        ANY_PERMISSION,  # type: ignore[arg-type]
    )
    response = await send_admin_request(admin, request)
    if response.error_code:
        raise AclError(
            f"DescribeAcls failed: {for_code(response.error_code).__name__}: {response.error_message}"
        )
    found: set[Acl] = set()
    for resource_type, name, pattern, entries in response.resources:
        for who, _host, operation, permission in entries:
            if who in principals and permission == ALLOW:
                found.add(
                    Acl(
                        who,
                        ResourceType(resource_type).name,
                        name,
                        PatternType(pattern).name,
                        Operation(operation).name,
                    )
                )
    return found


async def plan_acls(admin: AIOKafkaAdminClient, settings: Settings) -> AclPlan:
    """Compare the declared ACLs with the cluster's."""
    wanted = declared_acls(settings)
    existing = await cluster_acls(admin, {a.principal for a in wanted})
    return AclPlan(
        missing=[a for a in wanted if a not in existing],
        present=[a for a in wanted if a in existing],
        extra=sorted(existing - set(wanted)),
    )


async def create_acls(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    """Create `acls` (ALLOW from any host), one CreateAcls request each; `AclError` names a refusal."""
    for acl in acls:
        request = create_acls_request(
            ResourceType[acl.resource_type],
            acl.resource,
            PatternType[acl.pattern],
            acl.principal,
            "*",
            Operation[acl.operation],
            ALLOW,
        )
        response = await send_admin_request(admin, request)
        for error_code, error_message in response.creation_responses:
            if error_code:
                raise AclError(
                    f"creating {acl.text()} failed: {for_code(error_code).__name__}: {error_message}"
                )


async def apply_acls(admin: AIOKafkaAdminClient, settings: Settings, *, settle_s: float = 15.0) -> AclPlan:
    """Create the missing ACLs (creating an existing one is harmless); return the plan carried out.

    Returns once the cluster lists every declared ACL (the brokers learn new ACLs from the controller
    a moment later), so a `plan` right after shows them in place; `AclError` if not within `settle_s`.
    """
    plan = await plan_acls(admin, settings)
    await create_acls(admin, plan.missing)
    deadline = time.monotonic() + settle_s
    while plan.missing:
        pending = (await plan_acls(admin, settings)).missing
        if not pending:
            break
        if time.monotonic() > deadline:
            raise AclError(
                f"{len(pending)} ACLs created but not listed after {settle_s:.0f}s: {pending[0].text()}"
            )
        await asyncio.sleep(0.2)
    return plan
