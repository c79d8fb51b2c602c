"""What a local KRaft node is configured with: its server.properties, log4j setup and cluster id.

Pure rendering, kept apart from the process that uses it, so the broker settings the tests rely on
(replication and min ISR by cluster size, request timeouts that let transactions follow a failover,
the SASL_SSL listener) are read in one place.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.local_kafka.security import LocalSecurity


def server_properties(
    *,
    node_id: int,
    quorum_voters: str,
    port: int,
    controller_port: int,
    data_dir: Path,
    replication: int,
    security: LocalSecurity | None = None,
    sasl_port: int = 0,
) -> dict[str, str]:
    """Return the server.properties of one combined broker/controller node on 127.0.0.1."""
    replicas = str(replication)
    min_isr = "2" if replication >= 3 else "1"
    properties = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": quorum_voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        # One node: every internal topic has one replica; three or more: 3 replicas, min ISR 2.
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "10",
        "min.insync.replicas": min_isr,
        "default.replication.factor": replicas,
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
        "log.segment.bytes": str(64 * 1024 * 1024),
        "log.retention.hours": "168",
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
    }
    if replication > 1:
        # The bound of a broker's own requests to the others, among them a transaction
        # coordinator's commit/abort markers. A marker sent to a broker that froze is retried
        # at the partition's new leader only after this (30 s by default): until then the
        # transaction stays pending, and its producer (a worker's partition writer) can neither
        # commit nor start over. 10 s lets the writers follow a failover like the rest.
        properties["request.timeout.ms"] = "10000"
    if security is not None:
        properties.update(security.broker_properties(sasl_port))
        properties["listeners"] += f",SASL_SSL://127.0.0.1:{sasl_port}"
        properties["advertised.listeners"] += f",SASL_SSL://127.0.0.1:{sasl_port}"
        properties["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
    return properties


def log4j_properties(log_file: Path) -> str:
    """Return a log4j setup writing the broker's log to `log_file` (request and state loggers quieted)."""
    return (
        "log4j.rootLogger=INFO, file\n"
        "log4j.appender.file=org.apache.log4j.FileAppender\n"
        f"log4j.appender.file.File={log_file}\n"
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        "log4j.logger.kafka.request.logger=WARN\n"
        "log4j.logger.state.change.logger=WARN\n"
    )


def kafka_cluster_id() -> str:
    """Return a Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own `Uuid.randomUuid`, never one starting with "-": the storage tool's argument parser
    would read it as an option (`--cluster-id/-t: expected one argument`), failing 1 start in 64.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
