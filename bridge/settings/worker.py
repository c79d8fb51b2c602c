"""The processor (Faust worker) and its OMS reads (docs/processor.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkerSettings(BaseModel):
    """Settings of the processor (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

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
    #: With several accounts: events one account may hold in the lanes (0 = `worker_max_pending_events`
    #: divided by the number of accounts). Its later events are parked by input offset (no record kept) and
    #: read again from the input topic once it has room, so an account whose OMS is down for long
    #: cannot take the whole pending bound and stall the others (processors/parked.py).
    worker_max_pending_events_per_account: int = Field(default=0, ge=0)
    #: Events of one input partition read since its oldest unfinished one (not yet committed past:
    #: finished ones wait behind it, processors/ordered_acks.py, about 8 bytes each). It bounds what a
    #: new owner re-reads from the committed offset after a restart or a rebalance (de-duplicated, but
    #: read and checked again); at this bound fetching that partition pauses until half are released.
    worker_max_unfinished_per_partition: int = Field(default=500000, ge=10)
    worker_produce_timeout_s: float = 10.0
    #: Longest time the broker may hold the worker's fetch request when there is nothing new (Faust's
    #: own value, 1,500 ms, added up to that much latency to events of partitions drained meanwhile).
    worker_fetch_max_wait_ms: int = Field(default=100, ge=1, le=1500)
    #: How long a partition's writer waits for other lanes to join a transaction (only when its last
    #: transaction grouped several) while lane slots are free. Each transaction costs several broker
    #: round trips and markers on every partition it wrote, whatever its size: a longer wait means
    #: fewer, larger transactions and less broker CPU per event, for that much latency. At 500 events/s
    #: on a 2-core box, 100 ms instead of 20 cut the broker's CPU per event by a third and the e2e
    #: p99 from 340-900 to ~250 ms (docs/performance.md).
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
