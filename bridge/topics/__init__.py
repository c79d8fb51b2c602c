"""The bridge's Kafka topic set: declared from settings, compared with the cluster, applied, resharded.

`spec` declares every topic (names, partitions, replication, configs) from `Settings`; `cluster` reads
what the cluster has; `plan` is the pure difference; `apply` carries out its safe part. `vtex-bridge
topics plan|apply|describe|reshard` (`bridge.cli.commands.topics`) is the operator's entry point.
"""
