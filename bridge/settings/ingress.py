"""The VTEX Hook receiver (docs/ingress.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class IngressSettings(BaseModel):
    """Settings of the hook receiver (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    ingress_host: str = "127.0.0.1"
    ingress_port: int = 8080
    #: `/metrics` of the ingress listens here, apart from the public hook port (account names, volumes).
    ingress_metrics_host: str = "127.0.0.1"
    ingress_metrics_port: int = 8081
    ingress_path: str = "/hooks/vtex"
    #: Name of the custom header VTEX sends with every notification (configured in `hook.headers`).
    hook_secret_header: str = "X-Bridge-Secret"
    hook_secret: SecretStr = SecretStr("local-dev-hook-secret")
    #: Second valid secret while rotating; empty when not rotating.
    hook_secret_previous: SecretStr = SecretStr("")
    #: Older name of `accounts_file` (VTEX_BRIDGE_ACCOUNTS_FILE), still read.
    hook_accounts_file: Path | None = None
    ingress_max_body_bytes: int = 16 * 1024
    ingress_produce_timeout_s: float = 3.5
    ingress_max_in_flight: int = 2000
    #: Requests without a valid secret header handled at once (they can only be pings); beyond it 503.
    #: Kept apart from `ingress_max_in_flight`, so unauthenticated senders never take VTEX's budget.
    ingress_max_unauthenticated_in_flight: int = Field(default=32, ge=1)
    #: A connection must deliver a complete request head within this long after it opened or after its
    #: previous answer, else it is closed (also the idle keep-alive bound): slow senders cannot pile up.
    ingress_header_timeout_s: float = Field(default=10.0, gt=0.0)
    #: aiokafka keeps one produce request in flight per broker, so under load records batch anyway while
    #: it is out; linger only delays the lone record at low rates (docs/performance.md, "Ingress").
    ingress_linger_ms: int = 2
    #: Every hook gets its answer within this bound (VTEX gives up after 5,000 ms).
    ingress_answer_deadline_s: float = 4.0
    #: A client that has not sent its (small) body within this bound gets 408.
    ingress_body_timeout_s: float = 1.0
    #: Seconds VTEX is asked to wait (`Retry-After`) after a 503.
    ingress_retry_after_s: int = 1
    #: Require the secret header on the configuration ping too (see docs/ingress.md, "The ping").
    ingress_ping_requires_secret: bool = False
    #: A producer that only times out, with no acknowledgement, for this long is rebuilt.
    ingress_producer_wedge_after_s: float = 10.0
    #: aiokafka producers behind the ingress (records sharded by partition, so per-key order holds):
    #: each keeps one produce request in flight, several overlap their round trips. One costs less CPU per
    #: hook (fewer, larger produce requests; docs/performance.md, "Ingress"); workers each have their own.
    ingress_producer_instances: int = 1
    #: On SIGTERM: how long in-flight requests and the producer's flush may take.
    ingress_shutdown_timeout_s: float = 10.0
    #: Ingress processes sharing the hook port (SO_REUSEPORT), each with its own producer, one /metrics
    #: for all; unset: 1 in the dev profile, else the CPUs the process may use (docs/ingress.md, "Workers").
    ingress_workers: int | None = Field(default=None, ge=1, le=64)
