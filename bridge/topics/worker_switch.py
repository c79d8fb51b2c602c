"""Run a worker on the input generation it must consume, and hand over when that generation retires.

`vtex-bridge worker` asks `consuming_generation` which generation to run before it builds its Faust app
(the previous one until the new one is active; while the state migrates it waits). `GenerationWatch`, a
service of the running Faust worker, re-reads the control record every `generation_refresh_s`; once the
worker's generation is retired (phase `migrating` or a newer `active`) it stops the worker through the
same path as SIGTERM (a clean stop: in-flight batches commit, the group is left), and the command then
re-executes itself (`reexec`, same pid, same arguments and environment) to wait for and run the new
generation. A Faust app is not meant to be rebuilt inside one process; a fresh process is. While it
waits, the worker's web port answers `/health(z)` 200 (alive, waiting) and `/ready(z)` 503, so that a
liveness probe does not restart a worker that is only waiting for the migration to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Final, NoReturn

from aiohttp import web
from mode import Service

from bridge.settings import KafkaSettings, Settings, WorkerSettings
from bridge.topics.generation import (
    ControlReader,
    Generation,
    GenerationError,
    GenerationRecord,
    control_topic,
)

log = logging.getLogger(__name__)

#: While waiting for a generation to become active, say so this often.
WAIT_LOG_EVERY_S: Final = 10.0


def consumed(record: GenerationRecord | None, settings: KafkaSettings, partitions: int) -> Generation | None:
    """Return the generation a worker must consume given `record` (None: none now, the state migrates).

    No record is generation 1: `settings.input_topic` with `partitions` (the settings' count).
    """
    if record is None:
        return Generation(1, settings.input_topic, partitions)
    return record.consuming


async def consuming_generation(settings: Settings, stop: asyncio.Event) -> Generation | None:
    """Return the generation to run now; wait while none is (migration); None when `stop` is set first.

    The record must be read: guessing generation 1 while a newer one is active would process a retired
    topic against stale state. Reads are retried for `generation_startup_timeout_s` (then
    `GenerationError`); a migration is waited for as long as it takes.
    """
    reader = ControlReader(settings.kafka_bootstrap_servers, control_topic(settings))
    refresh = settings.generation_refresh_s
    failing_since: float | None = None
    logged_at = float("-inf")
    health: web.AppRunner | None = None
    serving = False
    try:
        while not stop.is_set():
            try:
                record = await reader.refresh(max(refresh * 5, 5.0))
            except Exception as exc:
                await reader.stop()
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > settings.generation_startup_timeout_s:
                    raise GenerationError(
                        f"cannot read the input generation from {control_topic(settings)}: {exc!r}"
                    ) from exc
            else:
                failing_since = None
                generation = consumed(record, settings, settings.input_topic_partitions)
                if generation is not None:
                    return generation
                if not serving and record is not None:
                    serving = True
                    health = await _serve_waiting(settings, record.current.number)
                now = time.monotonic()
                if record is not None and now - logged_at >= WAIT_LOG_EVERY_S:
                    logged_at = now
                    log.info(
                        "waiting for input generation %s to become active (state migrating)",
                        record.current.number,
                        extra={"generation": record.current.number, "phase": record.phase},
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), refresh)
        return None
    finally:
        await reader.stop()
        if health is not None:
            await health.cleanup()


async def _serve_waiting(settings: WorkerSettings, generation: int) -> web.AppRunner | None:
    """Answer the worker's health routes while it waits (None when the port cannot be bound)."""
    body = {"status": "waiting", "waiting_for_generation": generation, "partitions": []}

    async def alive(_: web.Request) -> web.Response:
        return web.json_response(body)

    async def not_ready(_: web.Request) -> web.Response:
        return web.json_response(body, status=503)

    app = web.Application()
    for path in ("/health", "/healthz"):
        app.router.add_get(path, alive)
    for path in ("/ready", "/readyz"):
        app.router.add_get(path, not_ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.worker_web_host, settings.worker_web_port).start()
    except OSError:
        log.warning("cannot serve health while waiting", extra={"port": settings.worker_web_port})
        await runner.cleanup()
        return None
    return runner


class GenerationWatch(Service):
    """Stops the worker (`on_retired`) once the control record retires the worker's generation."""

    def __init__(
        self, settings: Settings, generation: Generation, on_retired: Callable[[], None], **kwargs: object
    ) -> None:
        self._settings = settings
        self._generation = generation
        self._on_retired = on_retired
        self._reader = ControlReader(settings.kafka_bootstrap_servers, control_topic(settings))
        self.retired = False
        self._closing = False
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_stop(self) -> None:
        # mode runs this before it cancels the task, and `self.sleep` returns at once when stopping:
        # the flag keeps the task from opening a new consumer that nobody would close.
        self._closing = True
        await self._reader.stop()

    @Service.task
    async def _watch(self) -> None:
        try:
            await self._follow()
        finally:  # also on cancellation: a consumer opened by a refresh in flight is closed here
            await self._reader.stop()

    async def _follow(self) -> None:
        refresh = self._settings.generation_refresh_s
        while not self.should_stop:
            await self.sleep(refresh)
            if self._closing or self.should_stop:
                return
            try:
                record = await self._reader.refresh(max(refresh * 5, 5.0))
            except Exception as exc:  # Kafka trouble: the worker itself copes; try again next time
                await self._reader.stop()
                log.debug("generation record not readable", extra={"error": repr(exc)})
                continue
            if record is None:
                continue  # generation 1 and no reshard ever started
            if self.retires(record):
                self.retired = True
                log.info(
                    "input generation %s retired; stopping this worker to switch",
                    self._generation.number,
                    extra={"generation": record.current.number, "phase": record.phase},
                )
                self._on_retired()
                return

    def retires(self, record: GenerationRecord) -> bool:
        """Tell whether `record` means this worker's generation must stop being consumed."""
        consuming = record.consuming
        return consuming is None or consuming.number != self._generation.number


def stop_like_sigterm() -> None:
    """Stop the Faust worker of this process exactly as an operator's SIGTERM would (a clean stop)."""
    os.kill(os.getpid(), signal.SIGTERM)


def reexec() -> NoReturn:
    """Replace this process with a fresh run of the same command line (same pid, same environment)."""
    log.info("re-executing the worker to run the next input generation")
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
