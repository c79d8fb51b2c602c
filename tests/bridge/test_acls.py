"""bridge.topics.acls: the least privileges per service, and the plan's text and exit code."""

from __future__ import annotations

from bridge.settings import load_settings
from bridge.topics.acls import Acl, AclPlan, declared_acls


def rules(service: str, **values: object) -> set[tuple[str, str, str, str]]:
    settings = load_settings(kafka_embedded=False, **values)
    principal = settings.topics_acl_principals.get(service, f"User:{service}")
    return {
        (a.operation, a.resource_type, a.resource, a.pattern)
        for a in declared_acls(settings)
        if a.principal == principal
    }


def test_the_ingress_only_writes_the_input_and_reads_the_generation_record() -> None:
    assert rules("ingress") == {
        ("WRITE", "TOPIC", "vtex.orders.hooks", "LITERAL"),
        ("DESCRIBE", "TOPIC", "vtex.orders.hooks", "LITERAL"),
        ("WRITE", "TOPIC", "vtex.orders.hooks.g", "PREFIXED"),
        ("DESCRIBE", "TOPIC", "vtex.orders.hooks.g", "PREFIXED"),
        ("READ", "TOPIC", "vtex.orders.hooks.control", "LITERAL"),
        ("DESCRIBE", "TOPIC", "vtex.orders.hooks.control", "LITERAL"),
    }
    assert rules("feed-poller") == rules("ingress")


def test_the_worker_reads_the_input_and_owns_its_prefix_but_cannot_write_the_input() -> None:
    worker = rules("worker")
    assert ("READ", "TOPIC", "vtex.orders.hooks", "LITERAL") in worker
    assert ("WRITE", "TOPIC", "vtex.orders.hooks", "LITERAL") not in worker
    assert ("WRITE", "TOPIC", "vtex.orders.status.", "PREFIXED") in worker
    assert ("WRITE", "TOPIC", "vtex.orders.deadletter", "LITERAL") in worker
    assert ("READ", "GROUP", "vtex-bridge-processor", "PREFIXED") in worker
    assert ("WRITE", "TRANSACTIONAL_ID", "vtex-bridge-processor", "PREFIXED") in worker
    assert not any(kind == "CLUSTER" for _, kind, _, _ in worker)


def test_the_console_replays_dead_letters_with_its_own_group() -> None:
    console = rules("console")
    assert ("READ", "TOPIC", "vtex.orders.deadletter", "LITERAL") in console
    assert ("READ", "GROUP", "vtex-bridge-processor-replay", "LITERAL") in console
    assert not any(op == "WRITE" and res.startswith("vtex.orders.status") for op, _, res, _ in console)


def test_principals_come_from_the_settings() -> None:
    named = rules("ingress", topics_acl_principals={"ingress": "User:CN=bridge-ingress"})
    assert named == rules("ingress")  # same rules, under the configured principal


def test_plan_text_and_exit_code() -> None:
    missing = Acl("User:ingress", "TOPIC", "in.g", "PREFIXED", "WRITE")
    extra = Acl("User:ingress", "TOPIC", "other", "LITERAL", "READ")
    plan = AclPlan(missing=[missing], present=[], extra=[extra])
    assert plan.exit_code == 2
    assert plan.text().splitlines() == [
        "+ User:ingress WRITE TOPIC in.g*",
        "? User:ingress READ TOPIC other  (not declared; left alone)",
        "1 to add, 0 in place, 1 extra",
    ]
    assert AclPlan(missing=[], present=[missing], extra=[]).exit_code == 0
