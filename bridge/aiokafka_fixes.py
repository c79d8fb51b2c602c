"""Fixes for four bugs of the pinned aiokafka (0.14.0): two that stalled a worker's stop during a broker
outage, a consumer that kept asking a former leader for a partition's offsets after a failover, and a
metadata refresh that waited for a frozen broker.

Installed by every `vtex-bridge` command (bridge.cli) and by `processors.app.create_app`: any consumer
of ours that stops while the broker is unreachable can hit the first, any consumer whose partition
moves to another leader before its position is known can hit the second.

`Fetcher.close()`, part of `AIOKafkaConsumer.stop()`, cancels the fetch tasks still pending and awaits
each. A fetch task that is in its retry backoff after a failed fetch (where it is most of the time
while the broker is unreachable) lets that cancellation out, so `stop()` raised `CancelledError`
half-way: the remaining fetch tasks were left, the client's connections never closed. In Faust's
consumer thread that exception ends the thread before it reports its shutdown, and the worker's stop
then waited for the report for mode's `shutdown_timeout` (60 s): a SIGTERM during a broker outage always
ended with the stop watchdog's exit code 3 (bridge.stop_watchdog). aiokafka #647 reports the same
pattern in another close path.

`Fetcher._update_fetch_positions` (a partition without a position yet: just assigned, or after a seek)
sends ListOffsets to the partition's leader as its metadata says. When that broker answers
NOT_LEADER_FOR_PARTITION (it lost the leadership: frozen, then resumed), the task logs "Failed fetch
offsets", sleeps its backoff and asks the same broker again, without refreshing the metadata (the
other offset lookups of the fetcher do refresh it). Nothing else refreshes it while the other
partitions fetch fine, so the partition stayed without a position until `metadata_max_age_ms` (5
minutes): seen with Faust's leader-topic partition after a broker was frozen for 30 s, the worker
then committed no input offsets. The fixed request refreshes the metadata on any error meaning that
it is stale, as the rest of aiokafka does.

`GroupCoordinator.close()`, the first step of `AIOKafkaConsumer.stop()`, awaits the coordination task
without a bound. While the broker is down that task may sit in its coordinator lookup waiting for a
metadata refresh that never completes; Faust's consumer thread then never reported its shutdown and the
worker's stop ran into the stop watchdog (seen one run in a few of
tests/integration/test_processor_broker_outage.py). The fixed close gives the task
`COORDINATION_CLOSE_S` to notice the close, then cancels it; the rest of the close is aiokafka's
(heartbeat and commit-refresh tasks stopped, a best-effort LeaveGroup that fails fast without a
coordinator).

`AIOKafkaClient._metadata_update` asks one broker at a time and waits for its answer as long as the
client's request timeout (Faust's consumer: 90 s). A broker that is frozen (a long GC pause, SIGSTOP, a
network path that drops packets) keeps its connections open and never answers, so a refresh that picked
it held every refresh behind it: the worker kept fetching the partitions whose leadership had moved off
that broker from it, and they stalled for up to the request timeout after Kafka had elected new leaders
(tests/chaos/test_cluster_writer_faults.py). The fixed refresh gives each broker
`METADATA_REQUEST_TIMEOUT_S` and then asks the next one, as the Java client's choice of the least loaded
node avoids a broker with requests stuck in flight.

The fixes are applied to the pinned version only (`install` says whether it was): a newer aiokafka must be
checked for the bug again before the pin moves (tests/bridge/test_aiokafka_fixes.py fails until then).

This module is also the one place that touches aiokafka's private parts (attributes with a leading
underscore, and its protocol, connection and client-internal modules), each behind a small function
below that says why no public call does. The layers' test (tests/bridge/test_private_touches.py) keeps
every other module off them; tests/bridge/test_aiokafka_fixes.py checks each one still exists, with the
shape used here, on the pinned version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Final, Literal

import aiokafka
from aiokafka.client import AIOKafkaClient, ConnectionGroup, CoordinationType
from aiokafka.cluster import ClusterMetadata
from aiokafka.conn import create_conn
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import CreateAclsRequest, DescribeAclsRequest
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.transaction import AddOffsetsToTxnRequest

log = logging.getLogger(__name__)
#: aiokafka's client logger: the fixed metadata refresh logs as aiokafka's own does (same filters).
aiokafka_log = logging.getLogger("aiokafka")

#: The aiokafka version whose `Fetcher.close` this module replaces.
FIXED_VERSION: Final = "0.14.0"
#: aiokafka's own `Fetcher.close`, as it was before `install` (the tests show its bug with it).
AIOKAFKA_CLOSE: Final = Fetcher.close
#: aiokafka's own `Fetcher._proc_offset_request` (one ListOffsets request to one broker).
AIOKAFKA_OFFSET_REQUEST: Final = Fetcher._proc_offset_request
#: aiokafka's own `GroupCoordinator.close`.
AIOKAFKA_COORDINATOR_CLOSE: Final = GroupCoordinator.close
#: aiokafka's own `AIOKafkaClient._metadata_update`.
AIOKAFKA_METADATA_UPDATE: Final = AIOKafkaClient._metadata_update
#: How long one broker gets to answer a metadata request before the refresh asks the next one.
METADATA_REQUEST_TIMEOUT_S: Final = 3.0
#: How long a closing consumer's coordination task gets to end by itself before it is cancelled.
COORDINATION_CLOSE_S: Final = 5.0


async def close_fetcher(self: Any) -> None:
    """`Fetcher.close` of aiokafka 0.14.0, except that a pending task's cancellation stays its own."""
    self._closed = True
    self._fetch_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await self._fetch_task
    for waiter in self._fetch_waiters:  # fail pending fetchone/fetchall calls, as aiokafka does
        self._notify(waiter)
    pending = list(self._pending_tasks)
    for task in pending:
        task.cancel()
    # Each task's CancelledError is its result here; a cancellation of this close itself still
    # propagates through gather.
    await asyncio.gather(*pending, return_exceptions=True)


async def offset_request(self: Any, node_id: int, topic_data: Any) -> Any:
    """`Fetcher._proc_offset_request`, except that an error meaning stale metadata refreshes it."""
    try:
        return await AIOKAFKA_OFFSET_REQUEST(self, node_id, topic_data)
    except KafkaError as exc:
        if getattr(exc, "invalid_metadata", False):
            self._client.force_metadata_update()
        raise


async def close_coordinator(self: Any) -> None:
    """`GroupCoordinator.close` of aiokafka 0.14.0, except that the coordination task gets a bound."""
    if self._closing.done():
        return
    self._closing.set_result(None)
    task = self._coordination_task
    if not task.done():
        await asyncio.wait({task}, timeout=COORDINATION_CLOSE_S)
        if task.done():
            await task  # as aiokafka's close: the routine's own failure, if any, is the close's
        else:
            log.warning(
                "consumer group coordination did not end %ss into the close; cancelling it",
                COORDINATION_CLOSE_S,
            )
            task.cancel()
            await asyncio.wait({task}, timeout=COORDINATION_CLOSE_S)
    await self._stop_heartbeat_task()
    await self._stop_commit_offsets_refresh_task()
    await self._maybe_leave_group()


async def metadata_update(self: Any, cluster_metadata: ClusterMetadata, topics: Any) -> bool:
    """`AIOKafkaClient._metadata_update` of aiokafka 0.14.0, except that each broker's answer is bounded."""
    metadata_request = MetadataRequest(list(topics) if topics else None)
    nodeids: list[Any] = [b.nodeId for b in self.cluster.brokers()]
    bootstrap_id = ("bootstrap", ConnectionGroup.DEFAULT)
    if bootstrap_id in self._conns:
        nodeids.append("bootstrap")
    random.shuffle(nodeids)
    for node_id in nodeids:
        conn = await self._get_conn(node_id)
        if conn is None:
            continue
        try:
            metadata = await asyncio.wait_for(conn.send(metadata_request), METADATA_REQUEST_TIMEOUT_S)
        except (KafkaError, TimeoutError) as err:
            aiokafka_log.warning("Unable to request metadata from node with id %s: %r", node_id, err)
            continue
        # No brokers in the answer: the topic may still be being created (aiokafka's own rule).
        if not metadata.brokers:
            return False
        cluster_metadata.update_metadata(metadata)
        # The bootstrap connection is kept only until the cluster's layout is known.
        if bootstrap_id in self._conns and len(self.cluster.brokers()):
            self._conns.pop(bootstrap_id).close()
        return True
    aiokafka_log.error("Unable to update metadata from %s", nodeids)
    cluster_metadata.failed_update(None)
    return False


def install() -> bool:
    """Replace `Fetcher.close` when the installed aiokafka is the fixed version; return whether it was."""
    if aiokafka.__version__ != FIXED_VERSION:
        return False
    Fetcher.close = close_fetcher  # type: ignore[method-assign]
    Fetcher._proc_offset_request = offset_request  # type: ignore[method-assign]
    GroupCoordinator.close = close_coordinator  # type: ignore[method-assign]
    AIOKafkaClient._metadata_update = metadata_update  # type: ignore[method-assign]
    return True


# --- aiokafka's private parts the bridge relies on: each one here only, each checked by a pin test ---


def client_of(owner: Any) -> aiokafka.AIOKafkaClient:
    """The `AIOKafkaClient` inside a consumer or an admin client (their `_client`).

    aiokafka exports the client class but gives consumers and admin clients no accessor for theirs, and
    the calls the bridge needs are only on it: a forced metadata refresh (a topic created after the
    consumer started), the whole cluster's metadata (partition counts of topics never assigned), a
    FindCoordinator lookup and a request of our own (`metadata_request`).
    """
    client: aiokafka.AIOKafkaClient = owner._client
    return client


def metadata_request(topics: list[str]) -> Any:
    """A Metadata request naming only `topics` that never creates one (`allow_auto_topic_creation`).

    aiokafka's public calls ask for every topic of the cluster (bridge.kafka_metadata says what that
    costs) or, naming topics, let a broker with `auto.create.topics.enable` create them; send it with
    `client_of(...).send(node, request)`.
    """
    return MetadataRequest(topics, allow_auto_topic_creation=False)


async def find_coordinator(client: Any, kind: Literal["group", "transaction"], key: str) -> int:
    """Ask (one FindCoordinator request) which broker coordinates group or transactional id `key`.

    aiokafka has no public call for it; the worker uses it to learn, before it starts, whether its
    principal may use its group and transactional ids (processors.kafka_access). Raises aiokafka's
    errors, e.g. `GroupAuthorizationFailedError`.
    """
    coordination = CoordinationType.GROUP if kind == "group" else CoordinationType.TRANSACTION
    node: int = await client.coordinator_lookup(coordination, key)
    return node


async def open_connection(host: str, port: int, *, request_timeout_ms: int, **security: Any) -> Any:
    """Open one connection to one broker (TLS handshake and SASL authentication included).

    aiokafka's clients retry a refused login quietly; one bare connection tells a wrong password or an
    untrusted certificate from an unreachable broker (bridge.kafka_config.verify_credentials). The
    caller closes it (`.close()`).
    """
    return await create_conn(host, port, request_timeout_ms=request_timeout_ms, **security)


def describe_acls_request(*fields: Any) -> Any:
    """A DescribeAcls request (v1, the protocol's field order): aiokafka's admin client has no ACL calls."""
    return DescribeAclsRequest(*fields)


def create_acls_request(*fields: Any) -> Any:
    """A CreateAcls request (v1, the protocol's field order): aiokafka's admin client has no ACL calls."""
    return CreateAclsRequest(*fields)


def no_producer_add_offsets_request(transactional_id: str, group_id: str) -> Any:
    """An AddOffsetsToTxn request (v0) for `transactional_id` and `group_id` naming no producer (id and
    epoch -1), sent with `send_admin_request`.

    The broker checks WRITE on the transactional id, then READ on the group, before its transaction
    coordinator refuses the unknown producer without changing anything: how the worker learns, before
    it starts, whether its principal holds those two permissions and not DESCRIBE alone
    (processors.kafka_access). aiokafka builds this request only inside its transactional producer.
    """
    return AddOffsetsToTxnRequest(transactional_id, -1, -1, group_id)


async def send_admin_request(admin: Any, request: Any) -> Any:
    """Send `request` through the admin client to a broker it picks (its `_send_request`) and return
    the response: how the ACL requests above are sent (bridge.topics.acls)."""
    return await admin._send_request(request)


def set_fetch_max_wait(consumer: Any, wait_ms: int) -> None:
    """Change a consumer's fetch wait after it was built (its `_fetch_max_wait_ms`, and its running
    fetcher's, read for every fetch request).

    Faust builds the worker's consumer with a hard-coded 1,500 ms; there is no public setter
    (processors.app says why the worker shortens it).
    """
    consumer._fetch_max_wait_ms = wait_ms  # read when the fetcher starts
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is not None:
        fetcher._fetch_max_wait_ms = wait_ms  # read for every fetch request


def add_partition_to_transaction(producer: Any, tp: aiokafka.TopicPartition) -> bool:
    """Add `tp` to the producer's open transaction now, before anything is sent to it; return whether
    it could be (a producer without a transaction manager cannot).

    aiokafka adds a partition when the first record for it is sent, in a round trip of its own; the
    writer sends its timelines only after the other records are acknowledged, so joining up front saves
    that round trip in every transaction (processors.writer). No public call does this.
    """
    join = getattr(getattr(producer, "_txn_manager", None), "maybe_add_partition_to_txn", None)
    if join is None:
        return False
    join(tp)
    return True


def sender_task(producer: Any) -> asyncio.Task[Any] | None:
    """The producer's sender task (`_sender.sender_task`), None before it started.

    When it dies (e.g. ProducerFenced) records sent afterwards never complete: its end tells a dead
    producer from a slow broker (bridge.kafka_producer, processors.writer). No public call says so.
    """
    task: asyncio.Task[Any] | None = getattr(getattr(producer, "_sender", None), "sender_task", None)
    return task


def sender_of(producer: Any) -> Any:
    """The producer's sender (`_sender`): closing it is half of a forced close (aiokafka#1101)."""
    return getattr(producer, "_sender", None)


def settle_transaction_waiter(producer: Any) -> None:
    """Retrieve the exception of the producer's finished transaction waiter, if any.

    A fenced producer leaves its transaction manager's `_transaction_waiter` failed; nobody awaits it
    after the producer stopped, so asyncio would log "Future exception was never retrieved" about an
    error already handled (processors.writer).
    """
    waiter = getattr(getattr(producer, "_txn_manager", None), "_transaction_waiter", None)
    if isinstance(waiter, asyncio.Future) and waiter.done() and not waiter.cancelled():
        waiter.exception()
