"""How the resilient producer is built and bounded, and the snapshot it reports for metrics and readiness."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    """How to build and supervise the underlying producer."""

    bootstrap_servers: str
    client_id: str = "vtex-bridge"
    linger_ms: int = 5
    max_batch_size: int = 64 * 1024
    #: aiokafka's own request bound; our per-send deadline is what callers see. Well below
    #: `start_timeout_s`: a request to a frozen broker must fail in time for the next broker to be tried.
    request_timeout_ms: int = 3_000
    start_timeout_s: float = 10.0
    stop_timeout_s: float = 5.0
    #: Only time-outs and no acknowledgement for this long means the producer is wedged.
    wedge_after_s: float = 10.0
    metadata_timeout_s: float = 2.0
    #: Underlying producers; records go to `instances[partition % instances]`. aiokafka keeps one produce
    #: request in flight per broker and producer, so several instances overlap their round trips. A key
    #: always maps to one partition and so to one instance: per-key order is kept.
    instances: int = 1


@dataclass(frozen=True, slots=True)
class ProducerStats:
    """A snapshot for metrics and readiness."""

    connected: bool
    recreations: int
    acked: int
    timeouts: int
    failures: int
    seconds_since_ack: float | None
