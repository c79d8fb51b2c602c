"""`vtex-bridge kafka up --brokers 3 --secure`, as a developer runs it: the CLI, not the library.

It starts three KRaft nodes with SASL_SSL listeners, prints the plaintext and SASL_SSL addresses, the CA
file, where the SCRAM users' passwords are and the environment block that connects a service (the
bridge's `topics acls plan` connects with it as printed); a client using that (as `admin`) produces with
acks=all to a new topic, which gets the cluster's defaults (3 replicas, `min.insync.replicas` 2), and
reads its record back over SASL_SSL; `kafka status` answers; `kafka down` stops every node.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bridge import local_kafka
from testkit.kafka import KAFKA_VERSION, unique
from testkit.worker import VTEX_BRIDGE

#: Three JVMs and a CA take 25 to 55 s on a 2-core machine: `make chaos`, not `make test`.
pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.chaos_full]

UP_TIMEOUT_S = 240.0


def kafka_cli(cache: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_BRIDGE_", "KAFKA_"))}
    return subprocess.run(
        [str(VTEX_BRIDGE), "kafka", *args],
        env={
            **clean,
            "VTEX_BRIDGE_KAFKA_LOCAL_DIR": str(cache),
            "VTEX_BRIDGE_KAFKA_LOCAL_VERSION": KAFKA_VERSION,
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def bridge_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_BRIDGE_", "KAFKA_"))}
    return subprocess.run(
        [str(VTEX_BRIDGE), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def private_cache(tmp_path: Path) -> Path:
    """A cache of its own (state, data, certificates) that borrows the shared cache's jars."""
    cache = tmp_path / "cache"
    (cache / f"kafka-{KAFKA_VERSION}").mkdir(parents=True)
    os.symlink(local_kafka.ensure_distribution(KAFKA_VERSION), cache / f"kafka-{KAFKA_VERSION}" / "libs")
    return cache


async def test_kafka_up_three_secure_brokers_serve_sasl_ssl_clients(tmp_path: Path) -> None:
    cache = private_cache(tmp_path)
    port = local_kafka.free_port()
    started = time.monotonic()
    plain = None
    up = kafka_cli(cache, "up", "--brokers", "3", "--secure", "--port", str(port), timeout=UP_TIMEOUT_S)
    try:
        assert up.returncode == 0, up.stderr
        up_s = time.monotonic() - started
        plain = re.search(r"kafka up: (\S+) \(pid ([\d, ]+),", up.stdout)
        secure = re.search(r"SASL_SSL: (\S+) \(CA (\S+), SCRAM users and passwords in (\S+)\)", up.stdout)
        assert plain and secure, up.stdout
        assert plain.group(1).split(",")[0] == f"127.0.0.1:{port}"
        assert (
            3
            == len(plain.group(1).split(","))
            == len(plain.group(2).split(","))
            == len(secure.group(1).split(","))
        )
        sasl_bootstrap, ca_file, users_file = secure.groups()
        password = json.loads(Path(users_file).read_text())["users"]["admin"]
        assert 0 == kafka_cli(cache, "status").returncode

        # The printed environment block connects the bridge's own commands, as printed.
        env = dict(re.findall(r"(KAFKA_[A-Z_]+)=(\S+)", up.stdout.split("connect as admin", 1)[1]))
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == sasl_bootstrap and env["KAFKA_SSL_CAFILE"] == ca_file
        assert password == Path(env["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()
        assert password not in up.stdout
        plan = bridge_cli({**env, "VTEX_BRIDGE_INPUT_TOPIC": unique("cli-in")}, "topics", "acls", "plan")
        assert plan.returncode == 2 and " to add, " in plan.stdout, plan  # connected: ACLs to add

        tls = ssl.create_default_context(cafile=ca_file)
        client = {
            "bootstrap_servers": sasl_bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": env["KAFKA_SASL_MECHANISM"],
            "sasl_plain_username": env["KAFKA_SASL_USERNAME"],
            "sasl_plain_password": password,
            "ssl_context": tls,
        }
        topic = unique("cli-cluster")
        # Created on first use, with the cluster's defaults: what `kafka up --brokers 3` promises.
        producer = AIOKafkaProducer(**client, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, b"over SASL_SSL", key=b"k")
        finally:
            await producer.stop()
        admin = AIOKafkaAdminClient(**client, request_timeout_ms=30_000)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
            assert [3] == [len(p["replicas"]) for p in described["partitions"]]
            (configs,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            entries = {entry[0]: entry[1] for entry in configs.resources[0][4]}
            assert "2" == entries["min.insync.replicas"]
        finally:
            await admin.close()
        consumer = AIOKafkaConsumer(**client, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(topic, sent.partition)
            consumer.assign([tp])
            batch = await consumer.getmany(tp, timeout_ms=20_000)
        finally:
            await consumer.stop()
        assert [b"over SASL_SSL"] == [m.value for m in batch.get(tp, [])]
        print(f"kafka up --brokers 3 --secure: {up_s:.1f}s")
    finally:
        down = kafka_cli(cache, "down", timeout=120)
    assert down.returncode == 0 and "stopped pid" in down.stdout, down
    state_pids = [int(p) for p in plain.group(2).split(",")] if plain else []
    assert not any(local_kafka.process_alive(pid) for pid in state_pids)
    assert 3 == kafka_cli(cache, "status").returncode
