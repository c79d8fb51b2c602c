"""Run the ingress app on a TCP port until SIGTERM/SIGINT, then shut down gracefully.

Shutdown order (aiohttp's runner does the first three): stop listening, let in-flight hooks finish
(each is already bounded by the answer deadline), run the app's cleanup, which stops the producer and
so flushes every record those hooks handed to it; all within `ingress_shutdown_timeout_s` (+ the flush).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from bridge.ingress.app import create_app
from bridge.ingress.state import STATE, HookProducer
from bridge.settings import Settings

log = logging.getLogger(__name__)


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    producer: HookProducer | None = None,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set or a SIGTERM/SIGINT arrives; `started(port)` is called once listening.

    Signal handlers are installed only when running in the main thread; they are removed on the way out.
    """
    app = create_app(settings, producer=producer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.ingress_shutdown_timeout_s)
    await runner.setup()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = _bound_port(runner, port)
        log.info(
            "ingress listening",
            extra={"url": f"http://{host}:{bound}{settings.ingress_path}", "topic": app[STATE].input_topic},
        )
        if started is not None:
            started(bound)
        await stop.wait()
        log.info("ingress stopping: no new hooks, flushing in-flight ones")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        log.info("ingress stopped")


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    """Return the port actually bound (differs from `requested` when that was 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested
