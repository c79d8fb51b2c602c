"""processors.faust_adapter: one pin test per touch of Faust's or mode's internals, and what each does.

The pin tests fail when faust-streaming or mode-streaming moves off the versions the adapter was written
for (a private name gone, renamed or reshaped): re-check the touch named by the failing test, adapt the
adapter, then the test. They use a real, unstarted Faust app where they can, fakes otherwise.
"""

from __future__ import annotations

import inspect
import re
import signal
import weakref
from collections.abc import AsyncIterator
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import faust
import mode
import mode.worker
import pytest
from aiokafka.errors import IllegalStateError
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from processors import faust_adapter
from processors.ordered_acks import OrderedAcks

#: The distributions the adapter was written for (mode's own `__version__` says 0.0.1).
PINNED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1"}


@pytest.fixture
async def app() -> AsyncIterator[faust.App]:
    """A Faust app as the worker builds one, never started (no broker is asked)."""
    yield faust.App("faust-adapter-pin", broker="kafka://127.0.0.1:1", autodiscover=False, web_enabled=False)


def _lines(function: Any) -> list[str]:
    return [line.strip() for line in inspect.getsource(function).splitlines()]


def test_the_pinned_versions_are_the_ones_the_adapter_was_written_for() -> None:
    assert PINNED == {name: version(name) for name in PINNED}


class TestKafkaConsumer:
    async def test_pin_fausts_consumer_keeps_its_thread_and_the_thread_its_aiokafka_consumer(
        self, app: faust.App
    ) -> None:
        thread = app.consumer._thread  # type: ignore[attr-defined]
        assert isinstance(thread, AIOKafkaConsumerThread)
        assert "self._consumer = self._create_consumer(loop=self.thread_loop)" in _lines(
            AIOKafkaConsumerThread.on_start
        )
        assert faust_adapter.kafka_consumer(app.consumer) is None  # the thread exists, its consumer not yet

    def test_returns_the_threads_consumer(self) -> None:
        kafka = object()
        assert (
            faust_adapter.kafka_consumer(SimpleNamespace(_thread=SimpleNamespace(_consumer=kafka))) is kafka
        )
        assert faust_adapter.kafka_consumer(SimpleNamespace()) is None


class TestCallOnConsumerThread:
    def test_pin_the_thread_hands_calls_to_its_loop(self) -> None:
        assert ["self", "fun", "args", "kwargs"] == list(
            inspect.signature(AIOKafkaConsumerThread.call_thread).parameters
        )

    async def test_calls_go_through_the_thread(self) -> None:
        calls: list[tuple[Any, ...]] = []

        async def call_thread(fun: Any, *args: Any) -> Any:
            calls.append(args)
            return fun(*args)

        consumer = SimpleNamespace(_thread=SimpleNamespace(call_thread=call_thread))
        call = faust_adapter.call_on_consumer_thread(consumer, lambda a, b: a + b, 2, 3)
        assert call is not None
        assert 5 == await call
        assert [(2, 3)] == calls
        assert faust_adapter.call_on_consumer_thread(SimpleNamespace(), print) is None


class TestCommittedOffset:
    async def test_pin_the_consumer_keeps_committed_offsets_by_tp(self, app: faust.App) -> None:
        tp = TP("input", 0)
        assert faust_adapter.committed_offset(app.consumer, tp) is None
        app.consumer._committed_offset[tp] = 42  # type: ignore[attr-defined]  # what Faust does on commit
        assert 42 == faust_adapter.committed_offset(app.consumer, tp)
        assert "self._committed_offset.update(committable_offsets)" in _lines(Consumer._commit_offsets)


class TestOffsetAcker:
    """Faust's consumer acks a stand-in holding only the offset, and commits the same as for the event."""

    def test_pin_ack_reads_only_what_the_stand_in_has(self) -> None:
        lines = _lines(Consumer.ack)
        assert ["self", "message"] == list(inspect.signature(Consumer.ack).parameters)
        assert {"acked", "tp", "offset", "topic"} == set(re.findall(r"message\.(\w+)", "\n".join(lines)))
        assert "self._unacked_messages.discard(message)" in lines  # a WeakSet: weak-referenceable, hashable
        assert "acked_for_tp.append(offset)" in lines

    def test_the_stand_in_is_small_hashable_and_weak_referenceable(self) -> None:
        acked = faust_adapter.AckedOffset(TP("input", 2), 7)
        assert ("input", 2, 7, TP("input", 2), False) == (
            acked.topic,
            acked.partition,
            acked.offset,
            acked.tp,
            acked.acked,
        )
        assert weakref.ref(acked)() is acked
        assert {acked}
        assert not hasattr(acked, "__dict__")

    async def _subscribed(self, app: faust.App, topic: str) -> Any:
        """Faust's consumer of `app`, with `topic` among the acking topics (as once subscribed)."""
        app.topics.add(app.topic(topic))
        await app.topics._update_indices()  # type: ignore[attr-defined]  # what subscribing does
        assert app.topics.acks_enabled_for(topic)
        return app.consumer

    async def test_the_consumer_records_the_acked_offset(self, app: faust.App) -> None:
        consumer = await self._subscribed(app, "input")
        ack = faust_adapter.offset_acker(app, "input")
        assert ack(3, 41) is True
        assert ack(3, 41) is False  # Faust ignores an offset acked twice
        assert [41] == consumer._acked[TP("input", 3)]
        assert not consumer._unacked_messages  # nothing of the stand-in is kept

    async def test_faust_commits_the_run_ordered_acks_released(self, app: faust.App) -> None:
        """Offsets 0..4 finish out of order; Faust's next commit is 5, and nothing while 0 is unfinished."""
        consumer = await self._subscribed(app, "input")
        tp = TP("input", 0)
        results: list[object] = []
        release = faust_adapter.offset_acker(app, "input")
        acks = OrderedAcks(release=lambda p, o: results.append(release(p, o)))
        done = {o: acks.track(0, o) for o in range(5)}
        for offset in (3, 1, 4):
            done[offset]()
        assert consumer._new_offset(tp) is None  # the head (0) is unfinished: nothing is acked yet
        done[0]()
        assert consumer._new_offset(tp) == 2
        done[2]()
        assert consumer._new_offset(tp) == 5
        assert [True] * 5 == results

    async def test_faust_commits_past_its_committed_offset_only_when_the_head_finished(
        self, app: faust.App
    ) -> None:
        """With a committed offset C (next to read), the event at C in flight holds the commit (the
        off-by-one of `_new_offset` never sees C+1.. acked)."""
        consumer = await self._subscribed(app, "input")
        tp = TP("input", 1)
        consumer._committed_offset[tp] = 10
        acks = OrderedAcks(release=faust_adapter.offset_acker(app, "input"))
        done = {o: acks.track(1, o) for o in range(10, 14)}
        for offset in (11, 12, 13):
            done[offset]()
        assert [] == consumer._acked[tp]
        done[10]()
        assert consumer._new_offset(tp) == 14

    async def test_pin_unacked_messages_are_held_weakly(self, app: faust.App) -> None:
        """The agent never acks Faust's event (`stream.noack()`): Faust tracks its message weakly only,
        so it is freed once the worker dropped the event."""
        consumer = await self._subscribed(app, "input")
        assert isinstance(consumer._unacked_messages, weakref.WeakSet)
        assert "self._unacked_messages = WeakSet()" in _lines(Consumer.__init__)


class TestBoundFinalCommit:
    def test_pin_the_consumer_commits_through_its_own_attribute_when_it_stops(self) -> None:
        """The bound replaces the instance's attribute: Faust must call it through `self`."""
        assert inspect.iscoroutinefunction(Consumer.commit_and_end_transactions)
        assert ["self"] == list(inspect.signature(Consumer.commit_and_end_transactions).parameters)
        assert "await self.commit_and_end_transactions()" in _lines(Consumer.on_stop)

    async def test_the_real_consumers_final_commit_is_replaced(self, app: faust.App) -> None:
        faust_adapter.bound_final_commit(app, 0.01)
        bounded = app.consumer.commit_and_end_transactions  # type: ignore[attr-defined]
        assert inspect.iscoroutinefunction(bounded)
        assert "bounded" == bounded.__name__


class TestSeekUncommittedToStart:
    """After a rebalance a partition with no committed offset is read again from its first offset."""

    def test_pin_perform_seek_goes_through_the_consumers_own_attribute(self) -> None:
        assert "_committed_offsets = await self.seek_to_committed()" in _lines(Consumer.perform_seek)
        assert ["self", "partitions"] == list(
            inspect.signature(AIOKafkaConsumerThread.seek_to_beginning).parameters
        )

    def test_pin_aiokafka_seeks_only_partitions_with_a_committed_offset(self) -> None:
        """The gap the replacement fills: no committed offset (None, or 0) means no seek at all."""
        from aiokafka import AIOKafkaConsumer

        lines = _lines(AIOKafkaConsumer.seek_to_committed)
        assert "if offset and offset > 0:" in lines
        assert "self._fetcher.seek_to(tp, offset)" in lines

    @staticmethod
    def _replaced(committed: dict[TP, int | None], rewound: list[TP], *, revoked: bool = False) -> Any:
        """A Faust consumer stand-in answering `committed`, whose rewinds land in `rewound` (or fail as
        for a partition revoked meanwhile), with its seek replaced."""

        async def seek_to_committed() -> dict[TP, int | None]:
            return committed

        async def seek_to_beginning(*tps: TP) -> None:
            if revoked:
                raise IllegalStateError(f"Partitions {set(tps)} are not assigned")
            rewound.extend(tps)

        consumer = SimpleNamespace(
            seek_to_committed=seek_to_committed, _thread=SimpleNamespace(seek_to_beginning=seek_to_beginning)
        )
        faust_adapter.seek_uncommitted_to_start(SimpleNamespace(consumer=consumer))  # type: ignore[arg-type]
        return consumer

    async def test_uncommitted_partitions_are_sought_to_their_start(self) -> None:
        committed = {TP("in", 0): 12, TP("in", 1): None, TP("in", 2): 0}
        rewound: list[TP] = []
        consumer = self._replaced(committed, rewound)
        assert committed == await consumer.seek_to_committed()  # Faust still gets what it expects
        assert [TP("in", 1), TP("in", 2)] == rewound

    async def test_nothing_more_when_every_partition_has_a_commit(self) -> None:
        rewound: list[TP] = []
        await self._replaced({TP("in", 0): 3}, rewound).seek_to_committed()
        assert [] == rewound

    async def test_a_partition_revoked_meanwhile_is_left_to_the_next_assignment(self) -> None:
        consumer = self._replaced({TP("in", 0): None}, [], revoked=True)
        assert {TP("in", 0): None} == await consumer.seek_to_committed()

    async def test_the_real_consumers_seek_is_replaced(self, app: faust.App) -> None:
        faust_adapter.seek_uncommitted_to_start(app)
        seek = app.consumer.seek_to_committed  # type: ignore[attr-defined]
        assert inspect.iscoroutinefunction(seek)
        assert "seek_including_uncommitted" == seek.__name__


class TestWorkerClass:
    def test_pin_modes_signal_hooks(self) -> None:
        assert ["self", "signal"] == list(inspect.signature(mode.worker.Worker._schedule_shutdown).parameters)
        assert ["self"] == list(inspect.signature(mode.worker.Worker._on_sigusr1).parameters)
        assert ["self"] == list(inspect.signature(mode.worker.Worker._on_sigusr2).parameters)
        assert "self._schedule_shutdown(signal.SIGTERM)" in _lines(mode.worker.Worker._on_sigterm)
        assert "self._schedule_shutdown(signal.SIGINT)" in _lines(mode.worker.Worker._on_sigint)
        unix = _lines(mode.worker.Worker._install_signal_handlers_unix)
        assert "self.loop.add_signal_handler(signal.SIGUSR1, self._on_sigusr1)" in unix
        assert "self.loop.add_signal_handler(signal.SIGUSR2, self._on_sigusr2)" in unix
        assert issubclass(faust.Worker, mode.worker.Worker)

    def test_each_hook_is_called(self, monkeypatch: pytest.MonkeyPatch) -> None:
        seen: list[Any] = []
        worker = faust_adapter.worker_class(
            on_stop_signal=lambda: seen.append("stop"),
            after_signal_handlers=lambda: seen.append("installed"),
            on_sigusr1=lambda: seen.append("usr1"),
            on_sigusr2=lambda w: seen.append(("usr2", w)),
        )
        monkeypatch.setattr(
            mode.worker.Worker, "_schedule_shutdown", lambda self, sig: seen.append(("mode", sig))
        )
        monkeypatch.setattr(
            mode.worker.Worker, "install_signal_handlers", lambda self: seen.append("mode-install")
        )
        me = object.__new__(worker)
        me._schedule_shutdown(signal.SIGTERM)
        me.install_signal_handlers()
        me._on_sigusr1()
        me._on_sigusr2()
        assert ["stop", ("mode", signal.SIGTERM), "mode-install", "installed", "usr1", ("usr2", me)] == seen


class TestWorkedAroundElsewhere:
    """Faust behaviours other modules work around without touching internals; pinned here too."""

    def test_pin_new_offset_the_off_by_one_processors_ordered_acks_guards_against(self) -> None:
        assert ["self", "tp"] == list(inspect.signature(Consumer._new_offset).parameters)
        lines = _lines(Consumer._new_offset)
        assert "if committed_offset:" in lines  # absent when the partition has no commit yet
        assert "if min(acked) - committed_offset > 1:" in lines  # off by one

    def test_pin_getmany_drops_records_of_partitions_faust_paused(self) -> None:
        """Why processors.fetch_pause pauses at aiokafka (records kept) instead of through Faust."""
        assert ["self", "timeout"] == list(inspect.signature(Consumer.getmany).parameters)
        lines = _lines(Consumer.getmany)
        kept = lines.index("or tp in active_partitions")  # a record of any other partition is not yielded
        assert "yield tp, to_message(tp, record)" in lines[kept:]
