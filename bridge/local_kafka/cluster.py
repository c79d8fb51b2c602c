"""Several local KRaft nodes forming one cluster, for failover tests and `kafka up --brokers N`.

The nodes share a cluster id and the controller quorum; all are launched before any is waited for,
because the controllers need a majority to elect a leader.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from bridge.local_kafka.errors import LocalKafkaError
from bridge.local_kafka.node import READY_TIMEOUT_S, LocalKafka
from bridge.local_kafka.probe import cluster_size, free_port
from bridge.local_kafka.processes import STOP_TIMEOUT_S
from bridge.local_kafka.security import LocalSecurity
from bridge.local_kafka.server_config import kafka_cluster_id


@dataclass
class LocalCluster:
    """`brokers` combined KRaft nodes on loopback forming one cluster (3: RF 3, min ISR 2 defaults).

    Every node is started before any is waited for (the controllers need a majority to elect a
    leader); `stop` stops every node it started, by its process group.
    """

    libs: Path
    work_dir: Path
    brokers: int = 3
    security: LocalSecurity | None = None
    tie_to_parent: bool = True
    heap: str = "384m"
    nodes: list[LocalKafka] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            controllers = [free_port() for _ in range(self.brokers)]
            voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controllers))
            cluster_id = kafka_cluster_id()
            self.nodes = [
                LocalKafka(
                    libs=self.libs,
                    work_dir=self.work_dir / f"node-{i + 1}",
                    controller_port=controllers[i],
                    heap=self.heap,
                    tie_to_parent=self.tie_to_parent,
                    node_id=i + 1,
                    quorum_voters=voters,
                    replication=min(self.brokers, 3),
                    cluster_id=cluster_id,
                    security=self.security,
                )
                for i in range(self.brokers)
            ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def sasl_bootstrap(self) -> str:
        return ",".join(node.sasl_bootstrap for node in self.nodes) if self.security is not None else ""

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start every node, then return once each answers and the cluster lists all of them."""
        try:
            for node in self.nodes:
                node.launch()
            deadline = time.monotonic() + timeout
            for node in self.nodes:
                node.wait_ready_or_relaunch(max(1.0, deadline - time.monotonic()))
            while cluster_size(self.bootstrap) < len(self.nodes):
                if time.monotonic() > deadline:
                    raise LocalKafkaError(f"the cluster did not list {len(self.nodes)} brokers in time")
                time.sleep(0.25)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every node (SIGTERM to each process group at once, then SIGKILL what is left)."""
        running = [node for node in self.nodes if node.process is not None]
        for node in running:
            assert node.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGTERM)
        for node in running:
            node.stop(timeout)
