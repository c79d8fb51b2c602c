"""Typed, frozen configuration read once per process from the environment.

Every component (ingress, worker, simulator, CLI, feed poller) receives a `Settings` object built by
`load_settings()`; nothing else in the code base reads `os.environ`. All variables share the prefix
`VTEX_BRIDGE_`; the few names that the wider ecosystem already uses (`KAFKA_BOOTSTRAP_SERVERS`,
`VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN`) are accepted without it. Defaults are safe for local
use: loopback addresses, the embedded simulator's credentials, small limits. Secrets are `SecretStr`, so
they never show in `repr`, logs or `vtex-bridge config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.identifiers import account_name_problem

ENV_PREFIX = "VTEX_BRIDGE_"

#: Credentials of the embedded simulator; only ever used against loopback.
SIMULATOR_ACCOUNT = "simaccount"
SIMULATOR_APP_KEY = "vtexappkey-simaccount-BRIDGE"
SIMULATOR_APP_TOKEN = "sim-app-token-not-a-secret"


def _env(name: str) -> AliasChoices:
    """Accept `NAME` with our prefix and, for ecosystem-wide names, without it."""
    return AliasChoices(f"{ENV_PREFIX}{name}", name)


class Settings(BaseSettings):
    """All configuration of the bridge, grouped by component (field-name prefixes)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="ignore",
        populate_by_name=True,
    )

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    #: True when the caller did not name a cluster: `dev` then starts the local broker.
    kafka_embedded: bool = True
    kafka_local_version: str = "3.9.1"
    kafka_local_port: int = 9092
    kafka_local_dir: Path | None = None  # default: the user's cache directory

    # --- Kafka security (every client: bridge.kafka_config; docs/operations.md) ----------------
    # The ecosystem's names (as Kafka's own clients and most managed services document them).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias=_env("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = Field(
        default="PLAIN", validation_alias=_env("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str = Field(default="", validation_alias=_env("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=_env("KAFKA_SASL_PASSWORD")
    )
    #: File holding the SASL password (first line), read instead of `KAFKA_SASL_PASSWORD` when set.
    kafka_sasl_password_file: Path | None = Field(
        default=None, validation_alias=_env("KAFKA_SASL_PASSWORD_FILE")
    )
    #: OAUTHBEARER: dotted path `package.module:factory` of a callable taking the settings and
    #: returning an `aiokafka.abc.AbstractTokenProvider` (e.g. a cloud IAM signer).
    kafka_sasl_oauth_token_provider: str = Field(
        default="", validation_alias=_env("KAFKA_SASL_OAUTH_TOKEN_PROVIDER")
    )
    #: CA bundle that signed the brokers' certificates (empty: the system's trust store).
    kafka_ssl_cafile: Path | None = Field(default=None, validation_alias=_env("KAFKA_SSL_CAFILE"))
    #: Client certificate and key for mutual TLS (both or neither).
    kafka_ssl_certfile: Path | None = Field(default=None, validation_alias=_env("KAFKA_SSL_CERTFILE"))
    kafka_ssl_keyfile: Path | None = Field(default=None, validation_alias=_env("KAFKA_SSL_KEYFILE"))
    kafka_ssl_key_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=_env("KAFKA_SSL_KEY_PASSWORD")
    )
    #: Check that a broker's certificate names the host connected to (the certificate is always verified).
    kafka_ssl_check_hostname: bool = Field(default=True, validation_alias=_env("KAFKA_SSL_CHECK_HOSTNAME"))

    input_topic: str = "vtex.orders.hooks"
    status_topic_prefix: str = "vtex.orders.status."
    #: Per-account status topics: a prefix holding `{account}`, e.g. `vtex.orders.{account}.status.`;
    #: each account of the registry then gets its own `<prefix><status>` topics. Empty (the default):
    #: every account shares the `status_topic_prefix` topics (`account` in the record and its header).
    status_topic_account_prefix: str = ""
    dead_letter_topic: str = "vtex.orders.deadletter"
    input_topic_partitions: int = 12

    # --- Topics (`vtex-bridge topics plan|apply|describe`, docs/topics.md) ----------------------
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

    # --- Topics / generations (`vtex-bridge topics reshard`, docs/operations.md) --------------------
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

    # --- VTEX account the bridge serves ------------------------------------------------------
    vtex_account: str = Field(default=SIMULATOR_ACCOUNT, validation_alias=_env("VTEX_ACCOUNT"))
    vtex_app_key: str = Field(default=SIMULATOR_APP_KEY, validation_alias=_env("VTEX_APP_KEY"))
    vtex_app_token: SecretStr = Field(
        default=SecretStr(SIMULATOR_APP_TOKEN), validation_alias=_env("VTEX_APP_TOKEN")
    )
    #: File holding the appToken (first line), read instead of `VTEX_APP_TOKEN` when set.
    vtex_app_token_file: Path | None = None
    #: Empty means the real VTEX URL for the account (`https://{account}.vtexcommercestable.com.br`).
    #: May hold `{account}` (a template for every account of the registry, bridge/accounts.py).
    vtex_base_url: str = Field(default="", validation_alias=_env("VTEX_BASE_URL"))
    vtex_environment: str = "vtexcommercestable"
    #: JSON file listing the VTEX accounts served besides (or instead of) the one above; format in
    #: docs/accounts.md. `VTEX_BRIDGE_HOOK_ACCOUNTS_FILE` (`hook_accounts_file`) is its older name.
    accounts_file: Path | None = None

    # --- Profile ----------------------------------------------------------------------------------
    #: `production` (the default) or `dev`. Outside `dev` the ingress refuses to start unless every hook
    #: secret is at least 24 random-looking characters (docs/ingress.md, "Secrets"); `vtex-bridge dev`
    #: (`make run`) sets `dev` for the services it starts when it runs the simulator.
    profile: Literal["production", "dev"] = "production"

    # --- Ingress (VTEX Hook receiver) ------------------------------------------------------------
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

    # --- Processor (Faust worker) --------------------------------------------------------------
    worker_app_id: str = "vtex-bridge-processor"
    #: Where a worker keeps its de-dup state and timelines: `rocksdict://` (RocksDB, bounded by
    #: `worker_rocksdb_memory_mb`) or `memory://` (dicts that grow with every order within the TTL:
    #: only `make run` uses it; docs/operations.md, "Worker memory").
    worker_store: str = Field(default="rocksdict://", pattern=r"^(memory|rocksdb|rocksdict)://")
    #: The one memory budget of a worker's RocksDB databases: their shared block cache, which their
    #: memtables are charged to too (processors/rocks.py). The pod limit is this plus the process.
    worker_rocksdb_memory_mb: int = Field(default=256, ge=16, le=65536)
    #: Write buffer (memtable) size of each database, two at most per database.
    worker_rocksdb_write_buffer_mb: int = Field(default=4, ge=1, le=256)
    worker_web_port: int = 6066
    #: Listen address of /metrics, /health(z), /ready(z): loopback locally, 0.0.0.0 in a container.
    worker_web_host: str = "127.0.0.1"
    worker_dedup_ttl_s: float = 6 * 24 * 3600.0
    worker_max_in_flight_orders: int = 256
    #: Of those, orders of one VTEX account at most when several are configured (an account whose OMS is
    #: down holds its orders' slots while they retry); 0 = half of `worker_max_in_flight_orders`.
    worker_max_in_flight_orders_per_account: int = Field(default=0, ge=0)
    #: The VTEX account's OMS Get-order budget (calls/s) for the whole worker group, not per worker:
    #: each worker takes the share of input partitions it owns (bridge/vtex/budget.py). VTEX allows
    #: 6,000/min = 100/s per account; 90 leaves headroom for the account's other integrations.
    oms_rate_limit_per_s: float = 90.0
    oms_timeout_s: float = 5.0
    #: Attempts per OMS read before the processor sees `OmsUnavailable` (it then backs off and retries).
    oms_max_attempts: int = 4
    oms_backoff_initial_s: float = 0.1
    oms_backoff_max_s: float = 5.0
    oms_max_connections: int = 64
    #: Route groups as JSON `{"group-name": ["status", ...]}`: those statuses go to `<prefix><group-name>`;
    #: every other known status keeps its own topic, unknown ones go to `<prefix>unknown`.
    worker_route_groups: dict[str, list[str]] = Field(default_factory=dict)
    #: How often de-dup entries older than `worker_dedup_ttl_s` are expired (tombstoned).
    worker_dedup_sweep_interval_s: float = 60.0
    #: How long a 404 from OMS is retried (a new order may not be readable yet) before dead-lettering.
    worker_not_found_grace_s: float = 120.0
    #: Cap of the backoff between retries of an event whose processing failed transiently.
    worker_retry_backoff_max_s: float = 30.0
    #: Retry budget of an event whose OMS read fails (5xx, timeout) while OMS serves other orders (an
    #: isolated failure, processors/failure_rule.py): dead-lettered once it failed this many times AND
    #: for at least `worker_event_retry_s`. VTEX's own 5xx episodes last seconds and its guide asks
    #: for a 1-minute pause after a 429, so 2 minutes (like the 404 grace) outlast a passing fault.
    worker_event_retry_attempts: int = Field(default=8, ge=1, le=1000)
    worker_event_retry_s: float = Field(default=120.0, ge=0.0, le=86400.0)
    #: The outage rule: a failure is isolated only when, since it began (and within this window), other
    #: orders' OMS reads succeeded and make up at least `worker_outage_min_success_ratio` of their
    #: outcomes; otherwise it is an outage (everyone waits, nothing is dead-lettered). At least the
    #: retry budget's time, so that sparse traffic still proves an isolated failure.
    worker_outage_window_s: float = Field(default=300.0, ge=1.0, le=3600.0)
    worker_outage_min_success_ratio: float = Field(default=0.5, gt=0.0, le=1.0)
    #: Events read but not yet done (all lanes); the agent stops pulling at this bound (backpressure).
    worker_max_pending_events: int = 5000
    #: Events of one input partition read and not yet committed past (finished ones wait behind an
    #: unfinished head, processors/ordered_acks.py); at this bound fetching that partition pauses.
    worker_max_unfinished_per_partition: int = Field(default=10000, ge=10)
    worker_produce_timeout_s: float = 10.0
    #: Longest time the broker may hold the worker's fetch request when there is nothing new (Faust's
    #: own value, 1,500 ms, added up to that much latency to events of partitions drained meanwhile).
    worker_fetch_max_wait_ms: int = Field(default=100, ge=1, le=1500)
    #: How long a partition's writer waits for other lanes to join a transaction (only when its last
    #: transaction grouped several) while lane slots are free. Each transaction costs several broker
    #: round trips and markers on every partition it wrote, whatever its size: a longer wait means
    #: fewer, larger transactions and less broker CPU per event, for that much latency. At 500 events/s
    #: on a 2-core box, 100 ms instead of 20 cut the broker's CPU per event by a third and the e2e
    #: p99 from 340-900 to ~250 ms (docs/performance.md, fifth session).
    worker_txn_linger_ms: float = Field(default=100.0, ge=0.0, le=1000.0)
    #: The same wait while every lane slot is busy and the worker's core is not the limit: the slots
    #: are (OMS latency bounds each lane), and every ms of waiting would hold all of them longer.
    worker_txn_linger_saturated_ms: float = Field(default=20.0, ge=0.0, le=1000.0)
    #: The same wait while the partition is behind (more than 100 records in Kafka beyond the last one
    #: handed to the lanes) and the worker's core, not its lane slots, is the limit: the latency is
    #: queueing anyway, and larger transactions drain the backlog faster (docs/performance.md).
    worker_txn_linger_backlog_ms: float = Field(default=250.0, ge=0.0, le=1000.0)
    #: Create the missing topics at startup (development: `vtex-bridge dev` sets it). Otherwise a worker
    #: whose topics are missing refuses to start and names them: `vtex-bridge topics apply` creates them.
    worker_create_topics: bool = False
    #: Consumer-group session timeout: how long a crashed worker's partitions wait before moving.
    worker_session_timeout_s: float = 30.0
    #: Bound on a worker's graceful stop (SIGTERM/SIGINT): past it the worker writes its stacks to the
    #: log and exits with code 3 (bridge.stop_watchdog). Keep a supervisor's own grace period longer
    #: (Kubernetes' terminationGracePeriodSeconds defaults to 30 s).
    worker_stop_timeout_s: float = Field(default=45.0, gt=0.0, le=3600.0)
    #: Bound on the offset commit Faust makes while the worker stops (faust_adapter.bound_final_commit):
    #: during a broker outage it would wait for the broker; skipped past this, nothing is lost.
    worker_stop_commit_timeout_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    #: Replication factor of the topics the worker creates (1 suits a single local broker only).
    worker_topic_replication: int = 1
    #: Keep a per-order timeline of what happened to each notification (operator console, docs/console.md).
    worker_timeline_enabled: bool = True
    #: Entries kept per order (oldest dropped first); entries also expire with `worker_dedup_ttl_s`.
    worker_timeline_max_entries: int = Field(default=64, ge=1, le=1000)
    #: URL other workers and `vtex-bridge order` use to reach this worker's console port (behind one
    #: Service, the pod's own address); empty = http://127.0.0.1:<console_port>.
    worker_advertised_url: str = ""

    # --- Operator console (served by every worker on its own port; docs/console.md) -------------------
    #: Listen address and port of the console's page and API (not /metrics: that is worker_web_port).
    console_host: str = "127.0.0.1"
    console_port: int = 6067
    #: Bearer token for reads and replay. Required outside the dev profile: 24+ random characters.
    console_admin_token: SecretStr = SecretStr("")
    #: Bearer token for reads only (optional; the same rule when set).
    console_read_token: SecretStr = SecretStr("")
    #: Header an authenticating reverse proxy puts the user's identity in (e.g. `X-Forwarded-User`);
    #: empty = not used. Believed only from `console_proxy_trusted_sources`.
    console_proxy_user_header: str = ""
    #: IPs or networks (JSON list, e.g. `["10.0.5.0/24"]`) the proxy connects from.
    console_proxy_trusted_sources: list[str] = Field(default_factory=list)
    #: Host names the console answers to besides loopback names and worker_advertised_url's host
    #: (JSON list, e.g. `["console.example.com"]`); any other Host header gets 421.
    console_allowed_hosts: list[str] = Field(default_factory=list)

    # --- Simulator -------------------------------------------------------------------------------
    sim_host: str = "127.0.0.1"
    sim_port: int = 8090
    sim_seed: int = 42
    #: Orders `vtex-bridge sim` drives through their lifecycles once a hook or feed is configured.
    sim_orders: int = 100
    #: Lifecycle transitions per second (0 = as fast as possible).
    sim_rate_per_s: float = 10.0
    sim_oms_latency_s: float = 0.0
    sim_oms_429_rate: float = 0.0
    sim_oms_5xx_rate: float = 0.0
    sim_oms_timeout_rate: float = 0.0
    #: VTEX's documented Get-order throttle; 0 = unlimited.
    sim_rate_limit_per_minute: int = 6000
    #: VTEX seconds per real second (hook retry back-off, feed visibility/retention).
    sim_time_compression: float = 1.0
    #: Accept plain-http hook URLs on loopback (VTEX accepts https only); the local demo needs it.
    sim_allow_http_hooks: bool = False
    #: Host names besides loopback whose plain-http hook URLs the simulator accepts (JSON list, e.g.
    #: `["ingress"]` in docker-compose, where the ingress is not on loopback).
    sim_allow_http_hook_hosts: list[str] = Field(default_factory=list)
    sim_duplicate_rate: float = 0.0
    sim_reorder_rate: float = 0.0
    #: Delivery records the simulator keeps for `/_sim/deliveries` (the newest; its counts cover all).
    sim_delivery_records: int = Field(default=50_000, ge=1)
    #: Orders the simulated account holds at most (0 = no bound; past it the oldest-created is forgotten).
    sim_max_orders: int = Field(default=0, ge=0)

    # --- Control plane (hook/feed CLI, feed poller, backfill) ---------------------------------------
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

    # --- Dev / demo (`vtex-bridge dev`, i.e. `make run`) ------------------------------------------
    #: Orders the demo's simulator drives through their lifecycles (0 = keep going until Ctrl-C).
    dev_orders: int = 0
    dev_rate_per_s: float = 20.0
    dev_workers: int = 1
    dev_refresh_s: float = 1.0
    #: Public URL VTEX should call for the ingress when running against a real account.
    dev_public_hook_url: str = ""

    # --- Process runtime (every long-running service; docs/performance.md) -----------------------------
    #: Event loop of the services: uvloop cuts the loop's and the transports' share of CPU per event;
    #: `asyncio` is the standard library's, for debugging or a platform without uvloop.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    #: `gc.set_threshold` of the services. The default (700, 10, 10) runs a full collection every few
    #: thousand events once the heap holds the de-dup state, which cost the worker ~20 % of its CPU.
    gc_thresholds: tuple[int, int, int] = (50_000, 20, 100)

    # --- Observability ---------------------------------------------------------------------------
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    #: A warning or error repeated with the same message passes once per this many seconds, carrying how
    #: many were held back (`repeats_suppressed`); 0 = log every one (bridge.log_filters).
    log_repeat_interval_s: float = Field(default=10.0, ge=0.0)

    # --- Tracing (OpenTelemetry, docs/tracing.md) ---------------------------------------------------
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

    @field_validator("vtex_account", "vtex_environment")
    @classmethod
    def _host_label(cls, value: str) -> str:
        """The account and environment become labels of VTEX's host name: refuse anything else."""
        problem = account_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def vtex_url(self) -> str:
        """Return the VTEX base URL: the configured one, else the account's real one."""
        if self.vtex_base_url:
            return self.vtex_base_url.replace("{account}", self.vtex_account).rstrip("/")
        return f"https://{self.vtex_account}.{self.vtex_environment}.com.br"

    def status_topic(self, suffix: str) -> str:
        """Return the downstream topic name for a routing suffix (a status or `unknown`)."""
        return f"{self.status_topic_prefix}{suffix}"

    def public_view(self) -> dict[str, object]:
        """Return the settings as plain data with every secret masked, for `vtex-bridge config`."""
        view: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                view[name] = "**********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                view[name] = str(value)
            else:
                view[name] = value
        return view


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; `overrides` (by field name) win, which is what tests use."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if "kafka_embedded" not in overrides:
        embedded = not _bootstrap_given()
        settings = settings.model_copy(update={"kafka_embedded": embedded})
    return settings


def _bootstrap_given() -> bool:
    """Tell whether the caller named a Kafka cluster (the one place besides pydantic to read env)."""
    import os

    return bool(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS")
    )
