"""The control plane: the hook and feed commands, the Feed v3 poller, backfill."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ControlSettings(BaseModel):
    """Settings of the control plane (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    #: Bound on one call to VTEX's hook/feed configuration or Feed v3 API.
    control_timeout_s: float = 10.0
    #: Hook URL `hook set|ensure` configure when `--url` is not given (else `dev_public_hook_url`).
    control_hook_url: str = ""
    #: FromWorkflow statuses `hook ensure` keeps configured (comma list; empty = every hook status).
    control_hook_statuses: str = ""
    #: FromOrders JSONata expression `hook ensure` keeps configured instead of statuses (when set).
    control_hook_expression: str = ""
    control_hook_disable_single_fire: bool = False
    #: File holding the hook secret (first line), used instead of `hook_secret` when set.
    control_hook_secret_file: Path | None = None
    #: `hook ensure` warns when the ingress saw no hook for this long (VTEX drops a hook after 3 days).
    control_hook_silence_warn_s: float = 24 * 3600.0
    #: Prometheus endpoint of the ingress (empty = http://{ingress_metrics_host}:{ingress_metrics_port}/metrics).
    control_ingress_metrics_url: str = ""
    #: Feed v3 queue settings `feed set` uses by default (REFERENCE.md section 4; retention max 14 days).
    feed_visibility_timeout_s: int = 240
    feed_retention_s: int = 345600
    #: Items per Feed v3 read (VTEX accepts at most 10).
    feed_poll_maxlot: int = 10
    #: Pause after an empty read; a full batch is followed at once by the next read.
    feed_poll_idle_s: float = 2.0
    #: The poller's request budget: Feed v3 reads, commits and backlog reads per second, at most, however
    #: many lots are in flight. VTEX documents no Feed v3 limit; 40/s (2,400/min) stays well under the
    #: 6,000/min it documents for Get order (docs/connect-your-account.md, "Pace").
    feed_poll_rate_per_s: float = Field(default=40.0, gt=0.0)
    #: Lots in flight at most while the feed has a backlog (1 = one lot at a time).
    feed_poll_max_concurrency: int = Field(default=4, ge=1, le=32)
    #: Lots in flight at most over every account's feed together (each account also keeps at most
    #: `feed_poll_max_concurrency`); the poller polls each configured account with its own appKey.
    feed_poll_total_concurrency: int = Field(default=8, ge=1, le=128)
    #: Seconds between reads of the feed's backlog (quantity, oldest age) for the metrics; 0 = never.
    feed_poll_backlog_interval_s: float = Field(default=15.0, ge=0.0)
    feed_poll_backoff_initial_s: float = 1.0
    #: The guide advises waiting about a minute after a 429 (REFERENCE.md section 1).
    feed_poll_backoff_max_s: float = 60.0
    feed_poll_produce_timeout_s: float = 10.0
    feed_poll_http_host: str = "127.0.0.1"
    feed_poll_http_port: int = 8092
    #: /healthz fails when no read succeeded for this long.
    feed_poll_stale_after_s: float = 300.0
    #: Orders fetched from OMS at once by `backfill`.
    backfill_concurrency: int = 4
