"""Tell every producer of input events (ingress, feed poller, backfill, replay) which topic to write now.

`InputTopicResolver` keeps the control record fresh in a background task (every `generation_refresh_s`)
and exposes the topic to write as a plain attribute, `produce_topic`: the per-hook cost is an attribute
read, no await. It starts from `settings.input_topic` (generation 1), reads the record once at startup
(bounded by `generation_startup_timeout_s`; a control topic that cannot be read then is not fatal) and
keeps the last value it knew whenever a later read fails. `StaticInputTopic` is the same port without
Kafka, for tests and benchmarks that inject a fake producer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final, Protocol

from bridge.cancelling import cancel_until_done
from bridge.settings import Settings
from bridge.topics.generation import ControlReader, GenerationRecord, control_topic

log = logging.getLogger(__name__)

#: A failing control read is logged at most this often (it usually means Kafka itself is down).
WARN_EVERY_S: Final = 60.0


class InputTopicSource(Protocol):
    """What a producer of input events needs: the topic to write now, and a lifecycle."""

    @property
    def produce_topic(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StaticInputTopic:
    """Always the same topic (no control topic is read)."""

    def __init__(self, topic: str) -> None:
        self.produce_topic = topic

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class InputTopicResolver:
    """See the module docstring."""

    def __init__(self, settings: Settings, *, reader: ControlReader | None = None) -> None:
        self._settings = settings
        self._reader = reader or ControlReader(settings.kafka_bootstrap_servers, control_topic(settings))
        self._refresh_s = settings.generation_refresh_s
        self.produce_topic: str = settings.input_topic
        self.record: GenerationRecord | None = None
        #: True once the control topic was read successfully at least once.
        self.known = False
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warned_at = float("-inf")

    async def start(self) -> None:
        """Start following the record; wait for a first read at most `generation_startup_timeout_s`."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._follow(), name="input-topic-resolver")
        try:
            await asyncio.wait_for(self._first.wait(), self._settings.generation_startup_timeout_s)
        except TimeoutError:
            log.warning(
                "input generation unknown yet; producing to %s until the control topic answers",
                self.produce_topic,
                extra={"control_topic": control_topic(self._settings)},
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_until_done(task)
        await self._reader.stop()

    async def refresh(self) -> None:
        """Read the record once now (bounded); keep the last known topic when that fails."""
        try:
            record = await self._reader.refresh(max(self._refresh_s * 5, 5.0))
        except Exception as exc:  # Kafka down or slow: keep what we knew, rebuild the consumer next time
            await self._reader.stop()
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning(
                    "cannot read the input generation; keeping %s",
                    self.produce_topic,
                    extra={"error": repr(exc)},
                )
            return
        self.known = True
        self._first.set()
        self.record = record
        topic = self._settings.input_topic if record is None else record.produce_topic
        if topic != self.produce_topic:
            log.info(
                "input topic switched",
                extra={
                    "from": self.produce_topic,
                    "to": topic,
                    "generation": None if record is None else record.current.number,
                    "phase": None if record is None else record.phase,
                },
            )
            self.produce_topic = topic

    async def _follow(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._refresh_s)


def resolver_for(settings: Settings, *, static: bool = False) -> InputTopicSource:
    """Return the resolver a producer uses: following the control topic, or fixed when `static`."""
    if static:
        return StaticInputTopic(settings.input_topic)
    return InputTopicResolver(settings)


@dataclass(frozen=True, slots=True)
class ActiveInput:
    """The input topic producers write now and its generation, as one read of the control record saw it.

    `generation` is None when the record could not be read (`topic` is then `settings.input_topic`, an
    assumption a dry run must say it made).
    """

    topic: str
    generation: int | None

    def describe(self) -> str:
        """Return e.g. `vtex.orders.hooks.g2 (generation 2)`, or say the generation is unknown."""
        if self.generation is None:
            return f"{self.topic} (generation unknown: the control topic could not be read)"
        return f"{self.topic} (generation {self.generation})"


async def active_input(settings: Settings) -> ActiveInput:
    """Return the topic to write now and its generation, read once (one-shot commands, dry runs too)."""
    resolver = InputTopicResolver(settings)
    try:
        await resolver.start()
        if not resolver.known:
            return ActiveInput(resolver.produce_topic, None)
        record = resolver.record
        if record is None:
            return ActiveInput(resolver.produce_topic, 1)
        producing = record.current if record.produce_topic == record.current.topic else record.previous
        return ActiveInput(resolver.produce_topic, None if producing is None else producing.number)
    finally:
        await resolver.stop()


async def current_produce_topic(settings: Settings) -> str:
    """Return the topic to write now, read once (one-shot commands: backfill, replay).

    When the control topic cannot be read within `generation_startup_timeout_s`, `settings.input_topic`.
    """
    return (await active_input(settings)).topic
