"""What `vtex-bridge topics describe` reports: each topic of ours as the cluster has it, and the lag.

Declared topics come first (missing ones included, flagged), then the other topics with our prefixes:
a *retired generation*'s (kind `retired`, with its `generation`; a reshard left it) or an *undeclared
topic* (kind `undeclared`).
For each input topic in use (two during a reshard) its worker group's committed offset, end offset
and lag per partition are added: two cheap requests (OffsetFetch, ListOffsets).
"""

from __future__ import annotations

from typing import Any, Final

from bridge.settings import Settings
from bridge.topics.cluster import PartitionLag, admin_client, group_lag, group_members, read_cluster
from bridge.topics.generation import read_record
from bridge.topics.plan import retired_generation
from bridge.topics.spec import (
    CLEANUP_POLICY,
    MIN_INSYNC_REPLICAS,
    RETENTION_MS,
    declared_in_use,
    inputs_in_use,
    owned_prefixes,
)

#: The configs shown per topic (all of them are in `--json`).
SHOWN_CONFIGS: Final = (CLEANUP_POLICY, RETENTION_MS, MIN_INSYNC_REPLICAS)


async def describe_topics(settings: Settings) -> dict[str, Any]:
    """Return the cluster's view of our topics and of the worker group(s), as plain data."""
    timeout_s = settings.topics_admin_timeout_s
    bootstrap = settings.kafka_bootstrap_servers
    record = await read_record(settings, timeout_s)
    declared = declared_in_use(settings, record)
    groups: list[dict[str, Any]] = []
    lags: dict[str, tuple[str, list[PartitionLag]]] = {}
    async with admin_client(bootstrap, timeout_s) as admin:
        cluster = await read_cluster(
            admin, [t.name for t in declared], owned_prefixes(settings), timeout_s=timeout_s
        )
        for input_topic, group in inputs_in_use(settings, record):
            members = await group_members(admin, group, timeout_s=timeout_s)
            groups.append({"id": group, "input": input_topic, **members})
            source = cluster.topics.get(input_topic)
            if source is not None:
                lags[input_topic] = (
                    group,
                    await group_lag(admin, bootstrap, group, source, timeout_s=timeout_s),
                )
    kinds = {t.name: t.kind for t in declared}
    names = list(kinds) + sorted(set(cluster.topics) - set(kinds))
    topics: list[dict[str, Any]] = []
    for name in names:
        state = cluster.topics.get(name)
        retired = None if name in kinds else retired_generation(settings, name)
        kind = kinds.get(name) or ("undeclared" if retired is None else "retired")
        entry: dict[str, Any] = {"name": name, "kind": kind, "exists": state is not None}
        if retired is not None:
            entry["generation"] = retired
        if state is not None:
            entry.update(
                {
                    "partitions": state.partition_count,
                    "replication_factor": state.replication_factor,
                    "under_replicated_partitions": state.under_replicated,
                    "configs": {k: state.configs.get(k) for k in SHOWN_CONFIGS},
                    "overrides": state.overrides,
                }
            )
        if name in lags:
            group, partition_lags = lags[name]
            entry["group"] = group
            entry["group_lag"] = [
                {"partition": lag.partition, "end": lag.end, "committed": lag.committed, "lag": lag.lag}
                for lag in partition_lags
            ]
            entry["total_lag"] = sum(lag.lag for lag in partition_lags)
        topics.append(entry)
    return {
        "bootstrap": bootstrap,
        "brokers": cluster.brokers,
        "generation": None if record is None else record.current.number,
        "phase": None if record is None else record.phase,
        "groups": groups,
        "topics": topics,
    }
