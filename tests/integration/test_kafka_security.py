"""The services over SASL_SSL (SCRAM) with the documented ACLs on a broker that enforces them.

One secured broker (bridge.local_kafka: its SASL_SSL listener, the StandardAuthorizer, users created
when its storage is formatted) serves the module. As admin, `topics apply` and `topics acls apply` set
it up; then the ingress and a worker, each as its own principal with only its ACLs, carry a hook to its
status topic. A principal without ACLs gets an error naming the permission it lacks, and a wrong
password stops a service at once with a message saying so. Records are read back through the broker's
internal plaintext listener.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TransactionalIdAuthorizationFailed

from bridge import kafka_config, local_kafka
from bridge.ingress.app import create_app
from bridge.settings import Settings, load_settings
from bridge.topics.acls import SERVICES, apply_acls, cluster_acls, create_acls, declared_acls, plan_acls
from bridge.topics.apply import apply_topics
from bridge.topics.cluster import admin_client
from processors.kafka_access import access_problems
from processors.state import changelog_topic
from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import KAFKA_VERSION, create_topics, read_all, unique, wait_until
from testkit.worker import VTEX_BRIDGE, WorkerConfig, WorkerProcess, partition_writer
from tests.support.ingress import ACCOUNT, auth_headers, hook_payload, ingress_settings

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]
#: Principals granted every worker ACL but these operations on one resource type: all of them, or all
#: but DESCRIBE (which lets FindCoordinator through; the start check's AddOffsetsToTxn sees the rest).
LACKING: dict[str, tuple[str, set[str]]] = {
    "worker-nogroup": ("GROUP", {"DESCRIBE", "READ"}),
    "worker-notxn": ("TRANSACTIONAL_ID", {"DESCRIBE", "WRITE"}),
    "worker-describegroup": ("GROUP", {"READ"}),
    "worker-describetxn": ("TRANSACTIONAL_ID", {"WRITE"}),
}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_kafka.LocalKafka]:
    work = tmp_path_factory.mktemp("secured-kafka")
    # The certificates are made once per machine (keytool takes seconds); users are added as needed.
    cached = local_kafka.default_cache_dir() / "test-security"
    security = local_kafka.LocalSecurity.generate(cached, [*SERVICES, "intruder", *LACKING])
    libs = local_kafka.ensure_distribution(KAFKA_VERSION)
    broker = local_kafka.LocalKafka(libs=libs, work_dir=work / "node", security=security)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def security_env(broker: local_kafka.LocalKafka, user: str, password: str | None = None) -> dict[str, str]:
    """The environment block docs/operations.md documents, for one principal."""
    assert broker.security is not None
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.sasl_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": password or broker.security.users[user],
        "KAFKA_SSL_CAFILE": str(broker.security.ca_file),
    }


def as_principal(broker: local_kafka.LocalKafka, user: str, names: dict[str, Any]) -> Settings:
    env = security_env(broker, user)
    return load_settings(
        kafka_embedded=False,
        kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=user,
        kafka_sasl_password=env["KAFKA_SASL_PASSWORD"],
        kafka_ssl_cafile=Path(env["KAFKA_SSL_CAFILE"]),
        **names,
    )


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_BRIDGE_", "KAFKA_"))}
    return subprocess.run(
        [str(VTEX_BRIDGE), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def post_until(client: Any, status: int, deadline_s: float) -> int:
    """POST one hook until it gets `status` (the producer connects in the background); return the last."""
    deadline = time.monotonic() + deadline_s
    answer = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        response = await client.post("/hooks/vtex", json=hook_payload(), headers=auth_headers())
        answer = int(response.status)
        assert time.monotonic() - started < 5.0, "a hook's answer must never hang"
        if answer == status:
            return answer
        await asyncio.sleep(0.2)
    return answer


async def test_services_work_with_their_acls_and_refusals_are_clear(
    secured: local_kafka.LocalKafka,
    fake_oms: FakeOms,
    aiohttp_client: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    names: dict[str, Any] = {
        "input_topic": unique("sec-in"),
        "status_topic_prefix": unique("sec-st") + ".",
        "dead_letter_topic": unique("sec-dlq"),
        "worker_app_id": unique("sec-proc"),
        "input_topic_partitions": 2,
    }
    admin = as_principal(secured, "admin", names)
    kafka_config.install(admin)
    assert (await apply_topics(admin)).exit_code == 0
    async with admin_client(admin.kafka_bootstrap_servers, 30.0) as client:
        first = await apply_acls(client, admin)
        assert first.missing and not first.extra
        again = await plan_acls(client, admin)
        assert (again.missing, again.exit_code) == ([], 0)  # applied: the plan is empty, apply idempotent
    names_env = {f"VTEX_BRIDGE_{k.upper()}": str(v) for k, v in names.items()}
    cli_plan = run_cli({**security_env(secured, "admin"), **names_env}, "topics", "acls", "plan")
    assert (cli_plan.returncode, cli_plan.stdout.strip().splitlines()[-1][:8]) == (0, "0 to add"), cli_plan

    # (a) the worker and the ingress, each as its own principal with only the documented ACLs.
    config = WorkerConfig(
        secured.sasl_bootstrap,
        fake_oms.base_url,
        app_id=str(names["worker_app_id"]),
        input_topic=str(names["input_topic"]),
        status_prefix=str(names["status_topic_prefix"]),
        dead_letter_topic=str(names["dead_letter_topic"]),
        partitions=2,
    )
    config.extra.update({**security_env(secured, "worker"), "VTEX_BRIDGE_WORKER_CREATE_TOPICS": "false"})
    config.extra["VTEX_ACCOUNT"] = ACCOUNT  # the ingress's account: the worker reads its orders
    with WorkerProcess(config, tmp_path) as worker:
        await worker.start()
        ingress = as_principal(secured, "ingress", names)
        kafka_config.install(ingress)
        client = await aiohttp_client(create_app(ingress_settings(**ingress.model_dump(exclude_unset=True))))
        assert 200 == await post_until(client, 200, 30.0)
        status_topic = config.status_topic("ready-for-handling")

        async def emitted() -> bool:
            return bool(await read_all(secured.bootstrap, status_topic, timeout=10))

        await wait_until(emitted, timeout=60, message="the worker's record on the status topic")
        assert 0 == await worker.terminate()
        assert [] == worker.error_lines()

    # (b) a principal without ACLs: 503 at once, and an ERROR naming the permission it lacks.
    intruder = as_principal(secured, "intruder", names)
    kafka_config.install(intruder)
    with caplog.at_level(logging.ERROR, logger="bridge.kafka_producer"):
        refused = await aiohttp_client(
            create_app(ingress_settings(**intruder.model_dump(exclude_unset=True)))
        )
        assert 503 == await post_until(refused, 200, 2.0)
    assert any("IDEMPOTENT_WRITE" in r.getMessage() and "acls plan" in r.getMessage() for r in caplog.records)

    # ... and a worker run as a principal without the worker's ACLs refuses to start, saying so.
    token = {"VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": "k7Qm2xV9pL4sT8wZ1rN6yB3cF5hJ0dGa"}
    borrowed = run_cli({**security_env(secured, "console"), **names_env, **token}, "worker")
    assert borrowed.returncode == 2, borrowed
    assert "not authorized to describe topics" in borrowed.stderr and "acls plan" in borrowed.stderr

    # (c) a wrong password: the service stops at once, saying why.
    started = time.monotonic()
    wrong = run_cli(security_env(secured, "ingress", password="not-the-password"), "ingress")
    assert wrong.returncode == 2, wrong
    assert "rejected the SASL credentials" in wrong.stderr
    assert time.monotonic() - started < 20.0


async def test_worker_without_its_group_or_transactional_id_acl_says_which(
    secured: local_kafka.LocalKafka, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker's principal that lacks the group ACL, or the transactional-id one, or holds only DESCRIBE
    there, is refused at start (exit 2, naming the permission) instead of hanging; a writer refused
    later logs an ERROR naming it."""
    names: dict[str, Any] = {
        "input_topic": unique("acl-in"),
        "status_topic_prefix": unique("acl-st") + ".",
        "dead_letter_topic": unique("acl-dlq"),
        "worker_app_id": unique("acl-proc"),
        "input_topic_partitions": 2,
    }
    admin = as_principal(secured, "admin", names)
    kafka_config.install(admin)
    assert (await apply_topics(admin)).exit_code == 0
    granted = []
    for user, (kind, operations) in LACKING.items():
        as_user = admin.model_copy(update={"topics_acl_principals": {"worker": f"User:{user}"}})
        own = [a for a in declared_acls(as_user) if a.principal == f"User:{user}"]
        granted += [a for a in own if a.resource_type != kind or a.operation not in operations]
    async with admin_client(admin.kafka_bootstrap_servers, 30.0) as client:
        await create_acls(client, granted)

        async def listed() -> bool:
            return set(granted) <= await cluster_acls(client, {a.principal for a in granted})

        await wait_until(listed, timeout=15, message="the ACLs listed by the cluster")

    names_env = {f"VTEX_BRIDGE_{k.upper()}": str(v) for k, v in names.items()}
    extra = {"VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": "k7Qm2xV9pL4sT8wZ1rN6yB3cF5hJ0dGa"}
    extra["VTEX_BRIDGE_WORKER_CREATE_TOPICS"] = "false"
    lacks_group = f"lacks READ on GROUP {names['worker_app_id']}"
    lacks_txn = f"lacks WRITE on TRANSACTIONAL_ID {names['worker_app_id']}"
    expected = {
        "worker-nogroup": lacks_group,
        "worker-notxn": lacks_txn,
        "worker-describegroup": lacks_group,
        "worker-describetxn": lacks_txn,
    }
    for user, permission in expected.items():
        started = time.monotonic()
        refused = run_cli({**security_env(secured, user), **names_env, **extra}, "worker")
        assert refused.returncode == 2, refused
        assert permission in refused.stderr and "acls plan" in refused.stderr, (user, refused.stderr)
        assert sum(p in refused.stderr for p in (lacks_group, lacks_txn)) == 1, refused.stderr  # only that
        assert time.monotonic() - started < 30.0, "a refused worker must stop at once, not hang"

    # Past the start (the ACL removed meanwhile, or DESCRIBE granted alone): a partition's writer is
    # refused when it initializes its transactions, and says why as an ERROR, not as a fenced producer.
    notxn = as_principal(secured, "worker-notxn", names)
    kafka_config.install(notxn)
    app_id = str(names["worker_app_id"])
    writer = partition_writer(notxn.kafka_bootstrap_servers, app_id, changelog_topic(app_id))
    try:
        raises = pytest.raises(TransactionalIdAuthorizationFailed)
        with caplog.at_level(logging.ERROR, logger="processors.writer"), raises:
            await writer.start()
    finally:
        await writer.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("WRITE on its transactional ids" in m and "acls plan" in m for m in errors), errors


async def test_the_start_check_leaves_a_running_writers_transaction_alone(
    secured: local_kafka.LocalKafka,
) -> None:
    """The start check's AddOffsetsToTxn, once past the ACLs, reaches the coordinator of a transactional
    id with a transaction open and changes nothing there: that transaction still commits (a bumped epoch
    would have fenced its producer). Through the internal listener, whose principal may do anything."""
    app_id, topic = unique("probe-proc"), unique("probe-out")
    await create_topics(secured.bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=secured.bootstrap, transactional_id=f"{app_id}-p0")
    await asyncio.wait_for(producer.start(), 30)
    try:
        await producer.begin_transaction()
        await asyncio.wait_for(producer.send_and_wait(topic, b"kept"), 30)
        settings = load_settings(
            kafka_embedded=False,
            kafka_bootstrap_servers=secured.bootstrap,
            worker_app_id=app_id,
            input_topic_partitions=2,
        )
        assert "" == (await access_problems(settings)).message()
        await asyncio.wait_for(producer.commit_transaction(), 30)
    finally:
        await producer.stop()
    assert [b"kept"] == [r.value for r in await read_all(secured.bootstrap, topic, timeout=10)]
