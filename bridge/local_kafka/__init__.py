"""A real Apache Kafka (KRaft) started from the official jars on Maven Central, for tests and local runs.

Where no Docker engine is at hand the project runs the broker itself, with Java and Maven only:

- `distribution`: the jars, fetched once into the user's cache (`ensure_distribution`);
- `server_config`: a node's server.properties, log4j setup and cluster id;
- `security`: the CA, broker keystore and SCRAM users of a secured cluster (`LocalSecurity`);
- `node`: one combined broker/controller's lifecycle (`LocalKafka`);
- `cluster`: several nodes forming one cluster (`LocalCluster`);
- `probe`: free ports and whether a broker answers (`free_port`, `broker_answers`, `cluster_size`);
- `processes`: stopping a process group without orphans (`stop_process_group`);
- `detached`: the broker of `vtex-bridge kafka up|down|status` and its state file.

The names below are re-exported because tests, the harness, benchmarks and the CLI import them from
`bridge.local_kafka`.
"""

from __future__ import annotations

from bridge.local_kafka.cluster import LocalCluster
from bridge.local_kafka.detached import DetachedState, detached_down, detached_up
from bridge.local_kafka.distribution import default_cache_dir, ensure_distribution
from bridge.local_kafka.errors import LocalKafkaError
from bridge.local_kafka.node import LocalKafka
from bridge.local_kafka.probe import broker_answers, cluster_size, free_port
from bridge.local_kafka.processes import die_with_parent, process_alive, stop_process_group
from bridge.local_kafka.security import LocalSecurity

__all__ = [
    "DetachedState",
    "LocalCluster",
    "LocalKafka",
    "LocalKafkaError",
    "LocalSecurity",
    "broker_answers",
    "cluster_size",
    "default_cache_dir",
    "detached_down",
    "detached_up",
    "die_with_parent",
    "ensure_distribution",
    "free_port",
    "process_alive",
    "stop_process_group",
]
