"""OpenTelemetry tracing (docs/tracing.md)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

from bridge.settings.names import ENV_PREFIX


class TracingSettings(BaseModel):
    """Settings of tracing (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    #: OTLP/HTTP collector base URL (spans go to `<url>/v1/traces`); empty = tracing off: no spans and no
    #: trace headers anywhere. The standard `OTEL_EXPORTER_OTLP_ENDPOINT` is accepted too.
    tracing_otlp_endpoint: str = Field(
        default="",
        validation_alias=AliasChoices(f"{ENV_PREFIX}TRACING_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    #: Headers of every export as `name=value,name2=value2` (e.g. a vendor's API key).
    tracing_otlp_headers: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices(f"{ENV_PREFIX}TRACING_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
    )
    #: Share of new traces kept; the worker's spans follow the ingress's decision (parent-based).
    tracing_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    #: `deployment.environment.name` of every span (empty: not set).
    tracing_environment: str = ""
    #: Spans are exported in batches at least this often.
    tracing_export_interval_s: float = 2.0
    tracing_export_timeout_s: float = 5.0
    #: Spans held while the collector is slow or away; beyond this, new spans are dropped (never waited on).
    tracing_max_queue_size: int = 4096
    #: On shutdown: how long exporting the spans still queued may take.
    tracing_shutdown_timeout_s: float = 5.0
