"""aiokafka's `Fetcher.close` lets a pending fetch task's cancellation out; the fixed close does not.
Its `GroupCoordinator.close` waits for the coordination task without a bound; the fixed one cancels it.
Its metadata refresh waits for a frozen broker's answer as long as the request timeout; the fixed one
asks the next broker after a few seconds.
Its offset lookup for a partition without a position asks a former leader again and again; the fixed
one refreshes the metadata first (the worker-level proof: tests/chaos/test_cluster_writer_faults.py).

The worker-level proof is tests/integration/test_processor_broker_outage.py::TestStopDuringOutage.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from types import SimpleNamespace
from typing import Any

import aiokafka
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.cluster import ClusterMetadata
from aiokafka.conn import create_conn
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import NotLeaderForPartitionError
from aiokafka.producer.sender import Sender
from aiokafka.producer.transaction_manager import TransactionManager
from aiokafka.protocol.admin import CreateAclsRequest, DescribeAclsRequest
from aiokafka.protocol.metadata import MetadataRequest

from bridge import aiokafka_fixes


class FetcherState:
    """What `Fetcher.close` touches: its fetch task, waiters and pending fetch tasks."""

    def __init__(self, pending: list[asyncio.Task[Any]]) -> None:
        self._closed = False
        self._fetch_task = asyncio.ensure_future(asyncio.sleep(3600))
        self._fetch_waiters: set[asyncio.Future[None]] = {asyncio.get_running_loop().create_future()}
        self._pending_tasks = set(pending)

    def _notify(self, future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_result(None)


async def in_retry_backoff() -> bool:
    """A fetch task after a failed fetch: aiokafka's sleeps its retry backoff outside its try."""
    await asyncio.sleep(3600)
    return False


async def started(count: int) -> list[asyncio.Task[Any]]:
    tasks = [asyncio.ensure_future(in_retry_backoff()) for _ in range(count)]
    await asyncio.sleep(0)  # every task is now in its backoff
    return tasks


def test_the_pinned_aiokafka_gets_the_fix() -> None:
    """Fails when aiokafka moves: check whether its Fetcher.close still has the bug, then re-pin."""
    assert aiokafka_fixes.FIXED_VERSION == aiokafka.__version__
    assert aiokafka_fixes.install()
    assert aiokafka_fixes.close_fetcher is Fetcher.close
    assert aiokafka_fixes.offset_request is Fetcher._proc_offset_request
    assert aiokafka_fixes.close_coordinator is GroupCoordinator.close
    assert aiokafka_fixes.metadata_update is AIOKafkaClient._metadata_update


async def test_aiokafkas_close_raises_the_tasks_cancellation() -> None:
    fetcher = FetcherState(await started(2))
    with pytest.raises(asyncio.CancelledError):
        await aiokafka_fixes.AIOKAFKA_CLOSE(fetcher)  # type: ignore[arg-type]
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]  # nobody cancelled us


async def test_fixed_close_cancels_every_pending_task_and_returns() -> None:
    tasks = await started(3)
    fetcher = FetcherState(tasks)
    waiters = set(fetcher._fetch_waiters)
    await aiokafka_fixes.close_fetcher(fetcher)
    assert fetcher._closed
    assert fetcher._fetch_task.cancelled()
    assert all(task.cancelled() for task in tasks)
    assert all(waiter.done() for waiter in waiters)


async def test_a_cancelled_close_still_ends_cancelled() -> None:
    """The fix keeps the tasks' cancellations to themselves, not the caller's own."""

    async def slow_to_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(3600)  # a task that takes its time to wind down

    task = asyncio.ensure_future(slow_to_cancel())
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(aiokafka_fixes.close_fetcher(FetcherState([task])))
    await asyncio.sleep(0.01)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class OffsetsClient:
    """A client whose broker answers every ListOffsets with NOT_LEADER_FOR_PARTITION; counts refreshes."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def send(self, node_id: int, request: Any) -> Any:
        return SimpleNamespace(API_VERSION=1, topics=[("t", [(0, NotLeaderForPartitionError.errno, -1, -1)])])

    def force_metadata_update(self) -> None:
        self.refreshes += 1


async def test_a_former_leaders_refusal_of_offsets_refreshes_the_metadata() -> None:
    fetcher = SimpleNamespace(_isolation_level=0, _client=OffsetsClient())
    with pytest.raises(NotLeaderForPartitionError):
        await aiokafka_fixes.AIOKAFKA_OFFSET_REQUEST(fetcher, 1, {"t": [(0, -1)]})
    assert 0 == fetcher._client.refreshes  # aiokafka's own: the same stale leader is asked again
    with pytest.raises(NotLeaderForPartitionError):
        await aiokafka_fixes.offset_request(fetcher, 1, {"t": [(0, -1)]})
    assert 1 == fetcher._client.refreshes


# --- one pin test per private part of aiokafka that bridge.aiokafka_fixes touches, and what each does ---
# A failure means aiokafka moved: re-check the touch the test names, adapt aiokafka_fixes, then the test.


def _lines(function: Any) -> list[str]:
    return [line.strip() for line in inspect.getsource(function).splitlines()]


async def test_pin_consumers_and_admin_clients_keep_their_client_as_client() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1")
    try:
        for owner in (consumer, admin):
            assert isinstance(aiokafka_fixes.client_of(owner), aiokafka.AIOKafkaClient)
        for method in ("force_metadata_update", "fetch_all_metadata", "send", "get_random_node"):
            assert callable(getattr(aiokafka.AIOKafkaClient, method))  # what callers do with the client
    finally:
        await consumer.stop()
        await admin.close()


def test_pin_a_metadata_request_names_topics_without_creating_them() -> None:
    request = aiokafka_fixes.metadata_request(["a", "b"])
    assert isinstance(request, MetadataRequest)
    assert (["a", "b"], False) == (request._topics, request._allow_auto_topic_creation)


async def test_pin_find_coordinator_asks_the_client_by_coordination_type() -> None:
    assert ["self", "coordinator_type", "coordinator_key"] == list(
        inspect.signature(aiokafka.AIOKafkaClient.coordinator_lookup).parameters
    )
    asked: list[tuple[Any, str]] = []

    async def coordinator_lookup(kind: Any, key: str) -> int:
        asked.append((kind, key))
        return 7

    client = SimpleNamespace(coordinator_lookup=coordinator_lookup)
    assert 7 == await aiokafka_fixes.find_coordinator(client, "group", "app")
    assert 7 == await aiokafka_fixes.find_coordinator(client, "transaction", "app-p0")
    assert [(CoordinationType.GROUP, "app"), (CoordinationType.TRANSACTION, "app-p0")] == asked


def test_pin_a_bare_connection_takes_the_security_kwargs_of_kafka_config() -> None:
    parameters = inspect.signature(create_conn).parameters
    wanted = {"request_timeout_ms", "security_protocol", "ssl_context", "sasl_mechanism"}
    wanted |= {"sasl_plain_username", "sasl_plain_password", "sasl_oauth_token_provider"}
    assert wanted <= set(parameters)
    assert ["host", "port"] == list(parameters)[:2]


def test_pin_the_acl_requests_take_the_protocols_seven_fields() -> None:
    fields = (2, "t", 3, "User:a", "*", 3, 3)
    names = ["resource_type", "resource_name", "resource_pattern_type_filter", "principal", "host"]
    names += ["operation", "permission_type"]
    for build, cls in (
        (aiokafka_fixes.describe_acls_request, DescribeAclsRequest),
        (aiokafka_fixes.create_acls_request, CreateAclsRequest),
    ):
        assert names == list(inspect.signature(cls).parameters)
        assert isinstance(build(*fields), cls)


async def test_pin_the_admin_client_sends_a_request_of_ours() -> None:
    assert ["self", "request", "node_id"] == list(
        inspect.signature(AIOKafkaAdminClient._send_request).parameters
    )
    sent: list[Any] = []

    async def send_request(request: Any) -> str:
        sent.append(request)
        return "response"

    assert "response" == await aiokafka_fixes.send_admin_request(
        SimpleNamespace(_send_request=send_request), 1
    )
    assert [1] == sent


async def test_pin_the_fetch_wait_is_read_from_the_consumer_and_its_fetcher() -> None:
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms," in _lines(AIOKafkaConsumer.start)
    assert "self._fetcher = Fetcher(" in _lines(AIOKafkaConsumer.start)
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in _lines(Fetcher.__init__)
    assert "self._fetch_max_wait_ms," in _lines(Fetcher._get_actions_per_node)  # every fetch request
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
    try:
        aiokafka_fixes.set_fetch_max_wait(consumer, 100)
        assert 100 == consumer._fetch_max_wait_ms
        running = SimpleNamespace(_fetch_max_wait_ms=1500, _fetcher=SimpleNamespace(_fetch_max_wait_ms=1500))
        aiokafka_fixes.set_fetch_max_wait(running, 80)
        assert (80, 80) == (running._fetch_max_wait_ms, running._fetcher._fetch_max_wait_ms)
    finally:
        await consumer.stop()


async def test_pin_a_transactional_producer_has_its_manager_sender_and_waiter() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", transactional_id="pin")
    try:
        manager = producer._txn_manager
        assert isinstance(manager, TransactionManager)
        assert isinstance(aiokafka_fixes.sender_of(producer), Sender)
        assert aiokafka_fixes.sender_task(producer) is None  # not started
        assert "_transaction_waiter" in vars(manager)
        aiokafka_fixes.settle_transaction_waiter(producer)  # none yet: nothing to do
    finally:
        await asyncio.wait_for(producer.stop(), 5)
    assert isinstance(inspect.getattr_static(Sender, "sender_task"), property)
    assert ["self", "tp"] == list(inspect.signature(TransactionManager.maybe_add_partition_to_txn).parameters)
    assert "self._transaction_waiter = create_future()" in _lines(TransactionManager)


def test_the_early_join_reaches_the_transaction_manager() -> None:
    joined: list[Any] = []
    producer = SimpleNamespace(_txn_manager=SimpleNamespace(maybe_add_partition_to_txn=joined.append))
    tp = aiokafka.TopicPartition("t", 1)
    assert aiokafka_fixes.add_partition_to_transaction(producer, tp)
    assert [tp] == joined
    assert not aiokafka_fixes.add_partition_to_transaction(SimpleNamespace(), tp)  # not transactional


async def test_a_failed_transaction_waiter_is_retrieved_and_a_dead_sender_seen() -> None:
    waiter = asyncio.get_running_loop().create_future()
    waiter.set_exception(RuntimeError("fenced"))
    aiokafka_fixes.settle_transaction_waiter(
        SimpleNamespace(_txn_manager=SimpleNamespace(_transaction_waiter=waiter))
    )
    assert waiter._log_traceback is False  # type: ignore[attr-defined]  # asyncio will not log it
    task = asyncio.ensure_future(asyncio.sleep(0))
    assert task is aiokafka_fixes.sender_task(SimpleNamespace(_sender=SimpleNamespace(sender_task=task)))
    await task


class CoordinatorState:
    """What `GroupCoordinator.close` touches; its coordination task never notices the close."""

    def __init__(self, routine: asyncio.Task[Any]) -> None:
        self._closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._coordination_task = routine
        self.stopped: list[str] = []

    async def _stop_heartbeat_task(self) -> None:
        self.stopped.append("heartbeat")

    async def _stop_commit_offsets_refresh_task(self) -> None:
        self.stopped.append("commit refresh")

    async def _maybe_leave_group(self) -> None:
        self.stopped.append("leave group")


async def test_a_coordination_task_stuck_in_its_lookup_is_cancelled_by_the_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiokafka's close waits for the task forever; the fixed one cancels it after its bound."""
    monkeypatch.setattr(aiokafka_fixes, "COORDINATION_CLOSE_S", 0.05)
    coordinator = CoordinatorState(asyncio.ensure_future(asyncio.sleep(3600)))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(aiokafka_fixes.AIOKAFKA_COORDINATOR_CLOSE(coordinator), 0.2)  # type: ignore[arg-type]
    stuck = asyncio.ensure_future(asyncio.sleep(3600))  # a metadata refresh that never completes
    coordinator = CoordinatorState(stuck)
    await asyncio.sleep(0)
    await asyncio.wait_for(aiokafka_fixes.close_coordinator(coordinator), 5)
    assert stuck.cancelled()
    assert coordinator._closing.done()
    assert ["heartbeat", "commit refresh", "leave group"] == coordinator.stopped


async def test_a_coordination_task_that_ends_in_time_ends_the_close_as_aiokafkas_does() -> None:
    async def noticing(closing: asyncio.Future[None]) -> None:
        await closing
        raise aiokafka.errors.KafkaError("coordination failed")

    loop = asyncio.get_running_loop()
    closing: asyncio.Future[None] = loop.create_future()
    coordinator = CoordinatorState(asyncio.ensure_future(noticing(closing)))
    coordinator._closing = closing
    with pytest.raises(aiokafka.errors.KafkaError):
        await asyncio.wait_for(aiokafka_fixes.close_coordinator(coordinator), 5)


class FrozenConn:
    """A connection to a broker that accepts requests and never answers (SIGSTOP keeps sockets open)."""

    def send(self, request: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()


class AnsweringConn:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    async def send(self, request: Any) -> Any:
        return self.answer


class MetadataClient:
    """What `_metadata_update` touches: the known brokers and a connection to each."""

    def __init__(self, conns: dict[int, Any]) -> None:
        self.cluster = SimpleNamespace(brokers=lambda: [SimpleNamespace(nodeId=n) for n in conns])
        self._conns: dict[Any, Any] = {}
        self.by_node = conns

    async def _get_conn(self, node_id: int) -> Any:
        return self.by_node[node_id]


class ClusterView:
    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.failed = 0

    def update_metadata(self, metadata: Any) -> None:
        self.updates.append(metadata)

    def failed_update(self, error: Any) -> None:
        self.failed += 1


async def test_a_frozen_broker_does_not_hold_the_metadata_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frozen broker is asked first (the shuffle is pinned); the fixed refresh moves on to the next."""
    monkeypatch.setattr(aiokafka_fixes, "METADATA_REQUEST_TIMEOUT_S", 0.05)
    monkeypatch.setattr(random, "shuffle", lambda nodes: nodes.sort())
    answer = SimpleNamespace(brokers=[(2, "127.0.0.1", 9093, None)])
    client = MetadataClient({1: FrozenConn(), 2: AnsweringConn(answer)})
    cluster = ClusterView()
    assert await asyncio.wait_for(aiokafka_fixes.metadata_update(client, cluster, {"t"}), 5)
    assert [answer] == cluster.updates


async def test_aiokafkas_refresh_waits_for_the_frozen_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "shuffle", lambda nodes: nodes.sort())
    client = MetadataClient({1: FrozenConn(), 2: AnsweringConn(None)})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            aiokafka_fixes.AIOKAFKA_METADATA_UPDATE(client, ClusterMetadata(), {"t"}),  # type: ignore[arg-type]
            0.2,
        )


async def test_no_broker_answering_fails_the_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiokafka_fixes, "METADATA_REQUEST_TIMEOUT_S", 0.05)
    cluster = ClusterView()
    client = MetadataClient({1: FrozenConn(), 2: FrozenConn()})
    assert not await aiokafka_fixes.metadata_update(client, cluster, {"t"})
    assert 1 == cluster.failed and [] == cluster.updates


def test_pin_the_add_offsets_request_names_no_producer() -> None:
    """processors.kafka_access sends it (v0, the only version aiokafka has) for its start check."""
    from aiokafka.protocol.transaction import AddOffsetsToTxnRequest

    assert ["transactional_id", "producer_id", "producer_epoch", "group_id"] == list(
        inspect.signature(AddOffsetsToTxnRequest).parameters
    )
    request = aiokafka_fixes.no_producer_add_offsets_request("app-p0", "app")
    assert isinstance(request, AddOffsetsToTxnRequest)
    sent = request.prepare({AddOffsetsToTxnRequest.API_KEY: (0, 4)})
    assert (0, "app-p0", -1, -1, "app") == (
        sent.API_VERSION,
        sent.transactional_id,
        sent.producer_id,
        sent.producer_epoch,
        sent.group_id,
    )
    assert ("throttle_time_ms", "error_code") == sent.RESPONSE_TYPE.SCHEMA.names  # error_code is read
