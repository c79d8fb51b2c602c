"""`vtex-bridge topics reshard --partitions N`: move the bridge to a new input generation with N partitions.

The steps (phases of the control record, `bridge.topics.generation`), each idempotent, so that running
the command again after an interruption or a time-out continues from the recorded phase:

1. `preparing`: create generation g+1's input topic (N partitions) and changelogs (N partitions,
   compacted) as `bridge.topics.spec` declares them, keeping the previous input topic's own overrides;
2. `switching`: producers (ingress, feed poller, backfill, replay) write the new topic from their next
   refresh on; the previous topic is *sealed* once its end offsets have not moved for `quiet_s`;
3. `draining`: the previous generation's workers keep consuming until their group committed the end
   of every partition of the previous topic (nothing of it is left unprocessed);
4. `migrating`: those workers stop by themselves; once their group is empty the command fences their
   transactional ids, forwards any straggler and copies their changelogs into the new ones,
   re-partitioned by key (`bridge.topics.migration`);
5. `active`: workers consume the new generation with the migrated state.

Events of generation g+1 wait in Kafka from step 2 to step 5: every event of an order of generation g
is processed before any of its events of generation g+1. Every wait is bounded by `timeout_s`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiokafka.errors import KafkaError

from bridge.cancelling import Expired, run_within
from bridge.events import utc_now_iso
from bridge.log import say as say_line
from bridge.settings import Settings
from bridge.topics.cluster import ClusterError, admin_client, describe_configs
from bridge.topics.generation import (
    ControlReader,
    ControlWriter,
    Generation,
    GenerationError,
    GenerationRecord,
    Phase,
    WriterFenced,
    changelog_topics,
    control_topic,
    generation_app_id,
    generation_topic,
)
from bridge.topics.migration import copy_changelog, fence_writers, forward_stragglers, without_dead_positions
from bridge.topics.reshard_kafka import CreateFailed, ReshardKafka, TopicConflict
from bridge.topics.reshard_waits import drain_report
from bridge.topics.spec import TopicSpec, TopicSpecError, generation_topics, topic_configs

# Re-exported (`X as X`): run_reshard returns them, its callers compare with them.
from bridge.vtex.config_models import EXIT_BAD_REQUEST as EXIT_BAD_REQUEST
from bridge.vtex.config_models import EXIT_CONFLICT as EXIT_CONFLICT
from bridge.vtex.config_models import EXIT_UNAVAILABLE as EXIT_UNAVAILABLE

#: Exit codes: 0 done (or nothing to do); the control-plane codes for a bad request (3), a conflict
#: with the recorded switch or a concurrent run (6) and Kafka unreachable (8); 9 = timed out (resumable).
EXIT_OK: Final = 0
EXIT_TIMEOUT: Final = 9

POLL_S: Final = 0.5
PROGRESS_EVERY_S: Final = 5.0


class ReshardError(Exception):
    """The reshard cannot go on; `exit_code` says why (see the EXIT_ constants)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def run_reshard(
    settings: Settings,
    *,
    partitions: int,
    quiet_s: float | None = None,
    timeout_s: float | None = None,
    out: Callable[[str], None] | None = None,
) -> int:
    """Carry the bridge to an input generation with `partitions` partitions (see module doc); exit code.

    `quiet_s` and `timeout_s` default to `reshard_quiet_s` and `reshard_timeout_s`. Progress lines go
    to `out` (default: stderr through `bridge.log.say`, after any pending log line), the final error
    to stderr. While it drains, each progress report names the partitions still behind, the event each
    waits on and why (`bridge.topics.reshard_waits`).
    """
    say = out or say_line
    run = _Reshard(
        settings,
        partitions,
        settings.reshard_quiet_s if quiet_s is None else quiet_s,
        say,
    )
    bound = settings.reshard_timeout_s if timeout_s is None else timeout_s
    try:
        return await run_within(run.run(), bound)
    except Expired:
        return _fail(
            f"timed out after {bound:.0f}s in phase {run.phase or 'start'} ({run.waiting_for}); "
            "the switch is recorded: run the same command again to continue",
            EXIT_TIMEOUT,
        )
    except TimeoutError:
        return _fail(f"Kafka did not answer in time ({run.waiting_for})", EXIT_UNAVAILABLE)
    except WriterFenced as exc:
        return _fail(str(exc), EXIT_CONFLICT)
    except ReshardError as exc:
        return _fail(str(exc), exc.exit_code)
    except TopicConflict as exc:
        return _fail(str(exc), EXIT_CONFLICT)
    except TopicSpecError as exc:
        return _fail(f"invalid topic settings: {exc}", EXIT_BAD_REQUEST)
    except (KafkaError, OSError, GenerationError, ClusterError, CreateFailed) as exc:
        return _fail(f"Kafka error while {run.waiting_for}: {exc!r}", EXIT_UNAVAILABLE)


def _fail(message: str, code: int) -> int:
    print(f"vtex-bridge topics reshard: {message}", file=sys.stderr, flush=True)
    return code


class _Reshard:
    """One run of the command: reads the record, then carries the switch through its phases."""

    def __init__(self, settings: Settings, partitions: int, quiet_s: float, say: Callable[[str], None]):
        self.settings = settings
        self.partitions = partitions
        self.quiet_s = quiet_s
        self.say = say
        self.bootstrap = settings.kafka_bootstrap_servers
        self.admin_timeout = settings.topics_admin_timeout_s
        self.phase: Phase | None = None
        self.waiting_for = "connecting to Kafka"
        self.writer = ControlWriter(self.bootstrap, control_topic(settings))
        self._kafka: ReshardKafka | None = None
        self._switched_at: float | None = None

    @property
    def kafka(self) -> ReshardKafka:
        assert self._kafka is not None
        return self._kafka

    async def run(self) -> int:
        if self.partitions < 1:
            raise ReshardError(f"--partitions must be at least 1, not {self.partitions}", EXIT_BAD_REQUEST)
        async with admin_client(self.bootstrap, self.admin_timeout) as admin:
            self._kafka = ReshardKafka(admin, self.bootstrap, self.admin_timeout)
            try:
                await self._ensure_control_topic()
                self.waiting_for = "starting the control writer"
                await self.writer.start()  # from here on, a concurrent run is fenced
                return await self._run()
            finally:
                await self.writer.stop()
                await self.kafka.close()

    async def _run(self) -> int:
        self.waiting_for = "reading the input generation"
        reader = ControlReader(self.bootstrap, control_topic(self.settings))
        try:
            record = await reader.refresh(self.admin_timeout)
        finally:
            await reader.stop()
        if record is not None and record.phase != "active":
            if record.current.partitions != self.partitions:
                raise ReshardError(
                    f"a reshard to {record.current.partitions} partitions (generation "
                    f"{record.current.number}) is in phase {record.phase}; finish it first with "
                    f"--partitions {record.current.partitions}, then reshard again",
                    EXIT_CONFLICT,
                )
            self.say(
                f"reshard: resuming generation {record.current.number} ({record.current.topic}, "
                f"{record.current.partitions} partitions) at phase {record.phase}"
            )
        else:
            current = record.current if record is not None else await self._first_generation()
            if current.partitions == self.partitions:
                await self._already(record, current)
                return EXIT_OK
            number = current.number + 1
            target = Generation(number, generation_topic(self.settings, number), self.partitions)
            record = GenerationRecord(target, "preparing", current, utc_now_iso())
            self.say(
                f"reshard: generation {current.number} ({current.topic}, {current.partitions} partitions) "
                f"-> generation {number} ({target.topic}, {self.partitions} partitions)"
            )
            await self._write(record)
        return await self._carry(record)

    async def _carry(self, record: GenerationRecord) -> int:
        steps: dict[Phase, tuple[Callable[[GenerationRecord], Awaitable[None]], Phase]] = {
            "preparing": (self._prepare, "switching"),
            "switching": (self._seal, "draining"),
            "draining": (self._drain, "migrating"),
            "migrating": (self._migrate, "active"),
        }
        while record.phase != "active":
            self.phase = record.phase
            step, following = steps[record.phase]
            if self._switched_at is None and record.phase != "preparing":
                self._switched_at = time.monotonic()  # resumed mid-switch: measured from now
            await step(record)
            record = record.advanced(following)
            await self._write(record)
        self.phase = "active"
        paused = "" if self._switched_at is None else f"; new events waited {self._elapsed():.1f}s"
        self.say(
            f"reshard: done: generation {record.current.number} is active ({record.current.topic}, "
            f"{record.current.partitions} partitions){paused}"
        )
        return EXIT_OK

    def _elapsed(self) -> float:
        return 0.0 if self._switched_at is None else time.monotonic() - self._switched_at

    async def _write(self, record: GenerationRecord) -> None:
        self.waiting_for = f"writing phase {record.phase}"
        await self.writer.write(record)
        if record.phase == "switching":
            self._switched_at = time.monotonic()
        self.say(f"reshard: phase {record.phase}")

    # --- the steps ----------------------------------------------------------------------------------

    async def _prepare(self, record: GenerationRecord) -> None:
        """Create the new generation's input topic and changelogs (or check the ones that exist)."""
        previous = _previous(record)
        target = record.current
        self.waiting_for = "creating the new generation's topics"
        existing = await self.kafka.topics()
        if previous.topic not in existing:
            raise ReshardError(f"the input topic {previous.topic} does not exist", EXIT_BAD_REQUEST)
        configs = await describe_configs(self.kafka.admin, [previous.topic], timeout_s=self.admin_timeout)
        kept = configs.get(previous.topic, ({}, {}))[1]
        specs = [
            spec
            for spec in generation_topics(
                self.settings,
                target.topic,
                target.partitions,
                generation_app_id(self.settings, target.number),
            )
            if spec.kind in ("input", "changelog")
        ]
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await self.kafka.create(missing, kept)
        await self.kafka.wait_partitions(specs)
        for spec in missing:
            self.say(f"reshard: created {spec.name} ({spec.partitions} partitions)")

    async def _seal(self, record: GenerationRecord) -> None:
        """Wait until the previous input topic's end offsets did not move for `quiet_s`."""
        previous = _previous(record)
        self.waiting_for = f"sealing {previous.topic} (no write for {self.quiet_s:g}s)"
        ends = await self.kafka.ends(previous)
        moved_at = time.monotonic()
        said_at = moved_at
        while True:
            await asyncio.sleep(POLL_S)
            now_ends = await self.kafka.ends(previous)
            now = time.monotonic()
            if now_ends != ends:
                ends, moved_at = now_ends, now
            if now - moved_at >= self.quiet_s:
                break
            if now - said_at >= PROGRESS_EVERY_S:
                said_at = now
                self.say(f"reshard: sealing {previous.topic}: last write {now - moved_at:.1f}s ago")
        self.say(f"reshard: {previous.topic} sealed ({sum(ends.values())} records)")

    async def _drain(self, record: GenerationRecord) -> None:
        """Wait until the previous generation's group committed the end of every partition."""
        previous = _previous(record)
        group = generation_app_id(self.settings, previous.number)
        self.waiting_for = (
            f"workers of generation {previous.number} (group {group}) to finish {previous.topic}"
        )
        said_at = float("-inf")
        while True:
            behind = await self.kafka.behind(previous, group)
            if not behind:
                break
            now = time.monotonic()
            if now - said_at >= PROGRESS_EVERY_S:
                said_at = now
                members = await self.kafka.members(group)
                for line in await drain_report(self.settings, self.kafka, previous.topic, behind, members):
                    self.say(line)
            await asyncio.sleep(POLL_S)
        self.say(f"reshard: {previous.topic} drained")

    async def _migrate(self, record: GenerationRecord) -> None:
        """Wait for the old workers to leave, fence them, forward stragglers, copy the changelogs."""
        previous, target = _previous(record), record.current
        old_app = generation_app_id(self.settings, previous.number)
        new_app = generation_app_id(self.settings, target.number)
        self.waiting_for = f"workers of generation {previous.number} (group {old_app}) to stop"
        said_at = float("-inf")
        while True:
            members = await self.kafka.members(old_app)
            if not members:
                break
            now = time.monotonic()
            if now - said_at >= PROGRESS_EVERY_S:
                said_at = now
                self.say(f"reshard: waiting for {members} worker(s) of generation {previous.number} to stop")
            await asyncio.sleep(POLL_S)
        self.waiting_for = f"fencing the writers of generation {previous.number}"
        await fence_writers(self.bootstrap, old_app, previous.partitions)
        self.waiting_for = f"forwarding stragglers of {previous.topic}"
        forwarded = await forward_stragglers(
            self.bootstrap, previous.topic, previous.partitions, old_app, target.topic
        )
        if forwarded:
            self.say(f"reshard: forwarded {forwarded} straggler(s) of {previous.topic} to {target.topic}")
        existing = await self.kafka.topics()
        dedup = changelog_topics(old_app)[0]
        for source, destination in zip(changelog_topics(old_app), changelog_topics(new_app), strict=True):
            if source not in existing:
                self.say(f"reshard: no {source}: nothing to migrate")
                continue
            self.waiting_for = f"copying {source} to {destination}"
            copied = await copy_changelog(
                self.bootstrap,
                source,
                previous.partitions,
                destination,
                target.partitions,
                transform=without_dead_positions if source == dedup else None,
            )
            self.say(f"reshard: migrated {copied.written} key(s) from {source} to {destination}")

    async def _already(self, record: GenerationRecord | None, current: Generation) -> None:
        """Nothing to switch; forward what reached the retired generation since (a late producer)."""
        self.say(
            f"reshard: generation {current.number} ({current.topic}) already has {current.partitions} "
            "partitions; nothing to switch"
        )
        previous = None if record is None else record.previous
        if previous is None:
            return
        old_app = generation_app_id(self.settings, previous.number)
        members = await self.kafka.members(old_app)
        if members:
            self.say(f"reshard: {members} worker(s) still in group {old_app}; not forwarding")
            return
        self.waiting_for = f"checking {previous.topic} for stragglers"
        forwarded = await forward_stragglers(
            self.bootstrap, previous.topic, previous.partitions, old_app, current.topic
        )
        self.say(
            f"reshard: forwarded {forwarded} straggler(s) of {previous.topic} to {current.topic}"
            if forwarded
            else f"reshard: no straggler in {previous.topic}"
        )

    async def _first_generation(self) -> Generation:
        """Return generation 1 as the cluster has it (no record yet)."""
        topic = self.settings.input_topic
        self.waiting_for = f"describing {topic}"
        partitions = await self.kafka.partition_count(topic)
        if not partitions:
            raise ReshardError(
                f"the input topic {topic} does not exist; create it first (`vtex-bridge topics apply`)",
                EXIT_BAD_REQUEST,
            )
        return Generation(1, topic, partitions)

    async def _ensure_control_topic(self) -> None:
        name = control_topic(self.settings)
        self.waiting_for = f"creating the control topic {name}"
        if name in await self.kafka.topics():
            return
        configs = topic_configs(self.settings, "control")
        spec = TopicSpec(name, 1, self.settings.worker_topic_replication, configs, True, "control")
        await self.kafka.create([spec], {})
        await self.kafka.wait_partitions([spec])


def _previous(record: GenerationRecord) -> Generation:
    if record.previous is None:
        raise ReshardError("the generation record names no previous generation", EXIT_CONFLICT)
    return record.previous
