"""Topic planning (`vtex-bridge topics plan|apply|describe`, docs/topics.md) and input generations
(`vtex-bridge topics reshard`, docs/operations.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TopicsSettings(BaseModel):
    """Settings of topic planning and generations (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    # Partitions of the input topic: `input_topic_partitions` (Kafka, above); replication factor of
    # every topic: `worker_topic_replication` (Processor, below). Production: 3 replicas, min ISR 2.
    #: Partitions of the status and unknown topics; 0 = as many as the input topic has when they are
    #: created (an existing one then keeps its count, e.g. across a reshard of the input).
    topics_status_partitions: int = 0
    #: Partitions of the dead-letter topic; 0 = as for the status topics.
    topics_dead_letter_partitions: int = 0
    #: `min.insync.replicas` set on every topic; unset: the brokers' own (production: 2, best set on the
    #: brokers; a value here overrides theirs on each topic).
    topics_min_insync_replicas: int | None = None
    #: Let `topics plan|apply` declare fewer replicas than min(3, brokers) (development only; also
    #: `--allow-under-replicated`); otherwise those topics are refused (exit 3), not created.
    topics_allow_under_replicated: bool = False
    #: `retention.ms` by kind (-1 = forever); the de-dup changelog is compacted, never deleted by time.
    topics_input_retention_ms: int = 7 * 24 * 3600 * 1000
    topics_status_retention_ms: int = 7 * 24 * 3600 * 1000
    #: Dead letters wait for a fix and `vtex-bridge replay`: kept longer than the rest.
    topics_dead_letter_retention_ms: int = 30 * 24 * 3600 * 1000
    #: Further topic configs by kind as JSON, e.g. `{"status": {"compression.type": "zstd"}}`; kinds:
    #: input, status, unknown, dead-letter, changelog, control. They win over the settings above.
    topics_extra_configs: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: Bound of one admin request (`topics` commands and the worker's topic creation at startup).
    topics_admin_timeout_s: float = 30.0
    #: Kafka principal of each service for `topics acls plan|apply` (docs/operations.md, "ACLs"), e.g.
    #: `{"ingress": "User:bridge-ingress"}`; a service not named is `User:<service>` (services: ingress,
    #: worker, console, feed-poller).
    topics_acl_principals: dict[str, str] = Field(default_factory=dict)

    #: Compacted one-partition topic holding the current input generation; empty = `<input_topic>.control`.
    generation_control_topic: str = ""
    #: How often producers and workers re-read the generation record (a switch is seen within this).
    generation_refresh_s: float = 1.0
    #: Bound of the first read of the generation record at startup (producers then keep trying).
    generation_startup_timeout_s: float = 10.0
    #: Reshard: the old input topic counts as sealed once its end offsets did not move for this long.
    #: Must exceed `generation_refresh_s` plus the longest a record can sit in a producer (~10 s).
    reshard_quiet_s: float = 15.0
    #: Reshard: bound of the whole run (seal, drain, migration); run it again to continue after it.
    reshard_timeout_s: float = 900.0
