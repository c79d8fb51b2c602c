"""Run the ingress app on a TCP port (and its metrics on another) until SIGTERM/SIGINT, then shut down.

aiohttp has no header-read timeout of its own. Its keep-alive timer, though, is armed when a connection
opens and again after every answer, and it closes the connection if no complete request head arrived
by then (aiohttp.web_protocol.RequestHandler._process_keepalive); setting it to
`ingress_header_timeout_s` makes it one: a sender dribbling its head, or idling, is cut after that long,
so slow connections cannot pile up. The head itself is bounded (`MAX_HEADERS` fields of at most
`MAX_FIELD_BYTES`), which bounds what one connection can make the parser hold.

Shutdown order (aiohttp's runner does the first three): stop listening, let in-flight hooks finish
(each is already bounded by the answer deadline), run the app's cleanup, which stops the producer and
so flushes every record those hooks handed to it; all within `ingress_shutdown_timeout_s` (+ the flush).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from bridge.ingress.app import create_app, create_metrics_app
from bridge.ingress.state import STATE, HookProducer
from bridge.settings import IngressSettings, Settings

log = logging.getLogger(__name__)

#: Header fields per request at most (VTEX sends about ten; aiohttp's default is 128).
MAX_HEADERS: Final = 32
#: Bytes per request line and per header field at most (aiohttp's default: 8,190).
MAX_FIELD_BYTES: Final = 4096
#: How often a worker of several writes its sampled gauges (in flight, producer state) for /metrics.
METRICS_REFRESH_S: Final = 1.0


def server_options(settings: IngressSettings) -> dict[str, Any]:
    """Return the aiohttp server options that bound slow and oversized request heads."""
    return {
        "keepalive_timeout": settings.ingress_header_timeout_s,
        "max_headers": MAX_HEADERS,
        "max_field_size": MAX_FIELD_BYTES,
        "max_line_size": MAX_FIELD_BYTES,
    }


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    producer: HookProducer | None = None,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    metrics_port: int | None = None,
    metrics_started: Callable[[int], None] | None = None,
    worker: bool = False,
) -> None:
    """Serve until `stop` is set or a SIGTERM/SIGINT arrives; `started(port)` is called once listening.

    /metrics listens on `settings.ingress_metrics_host` and `metrics_port` (default
    `settings.ingress_metrics_port`; 0 = any free port, reported to `metrics_started`). Signal handlers
    are installed only when running in the main thread; they are removed on the way out.

    `worker`: one of several processes on the port (bridge.ingress.workers): bind with SO_REUSEPORT,
    serve no /metrics (the parent does, from the files prometheus_client's multiprocess mode writes) and
    publish the sampled gauges to those files every `METRICS_REFRESH_S`.
    """
    app = create_app(settings, producer=producer, refresh_metrics_every=METRICS_REFRESH_S if worker else None)
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=settings.ingress_shutdown_timeout_s, **server_options(settings)
    )
    metrics_runner = (
        None if worker else web.AppRunner(create_metrics_app(app), access_log=None, shutdown_timeout=1.0)
    )
    await runner.setup()
    if metrics_runner is not None:
        await metrics_runner.setup()
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
        wanted_metrics_port = settings.ingress_metrics_port if metrics_port is None else metrics_port
        metrics_url = None
        if metrics_runner is not None:
            await web.TCPSite(metrics_runner, settings.ingress_metrics_host, wanted_metrics_port).start()
            metrics_bound = bound_port(metrics_runner, wanted_metrics_port)
            metrics_url = f"http://{settings.ingress_metrics_host}:{metrics_bound}/metrics"
            if metrics_started is not None:
                metrics_started(metrics_bound)
        site = web.TCPSite(runner, host, port, reuse_port=worker or None)
        await site.start()
        bound = bound_port(runner, port)
        log.info(
            "ingress listening",
            extra={
                "url": f"http://{host}:{bound}{settings.ingress_path}",
                "metrics_url": metrics_url,
                "topic": app[STATE].input_topic,
            },
        )
        if started is not None:
            started(bound)
        await stop.wait()
        log.info("ingress stopping: no new hooks, flushing in-flight ones")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        log.info("ingress stopped")


def bound_port(runner: web.AppRunner, requested: int) -> int:
    """Return the port actually bound (differs from `requested` when that was 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested
