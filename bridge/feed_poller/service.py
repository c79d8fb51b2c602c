"""Run the feed poller as a service: producer, VTEX client, poll loop and a small /metrics + /healthz app.

`run_poller(settings, stop)` owns every resource's lifecycle (start, then `finally: stop`), so the CLI
(`vtex-bridge feed poll`) and the tests run exactly the same code. `/healthz` answers 200 while a Feed
v3 read succeeded within `feed_poll_stale_after_s` and the Kafka producer is connected, else 503 with
the reason: a figure for operators and alerts. `/livez` answers 200 while the process serves HTTP: the
liveness probe, since restarting the poller during a Kafka or VTEX outage fixes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.feed_poller.metrics import PollerMetrics
from bridge.feed_poller.poller import BeforeCommit, FeedPoller, PollerConfig
from bridge.kafka_producer import ProducerConfig, ResilientProducer
from bridge.settings import Settings
from bridge.topics.resolver import InputTopicResolver
from bridge.tracing import setup_tracing
from bridge.vtex.config_api import ConfigApiClient

log = logging.getLogger(__name__)

POLLER_KEY: Final = web.AppKey("poller", FeedPoller)
PRODUCER_KEY: Final = web.AppKey("producer", ResilientProducer)
SETTINGS_KEY: Final = web.AppKey("settings", Settings)
#: Bound on stopping the poll loop before it is cancelled.
STOP_TIMEOUT_S: Final = 10.0


def create_app(settings: Settings, poller: FeedPoller, producer: ResilientProducer) -> web.Application:
    """Return the poller's HTTP app: Prometheus metrics and health."""
    app = web.Application()
    app[SETTINGS_KEY] = settings
    app[POLLER_KEY] = poller
    app[PRODUCER_KEY] = producer
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/livez", _livez)
    return app


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[POLLER_KEY].metrics.registry
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _livez(_request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _healthz(request: web.Request) -> web.Response:
    poller = request.app[POLLER_KEY]
    settings = request.app[SETTINGS_KEY]
    reading = poller.healthy(settings.feed_poll_stale_after_s)
    connected = request.app[PRODUCER_KEY].connected
    body = {
        "status": "ok" if reading and connected else "unavailable",
        "feed_read_recently": reading,
        "producer_connected": connected,
        "last_error": poller.last_error,
    }
    return web.json_response(body, status=200 if reading and connected else 503)


async def run_poller(
    settings: Settings,
    stop: asyncio.Event,
    *,
    before_commit: BeforeCommit | None = None,
    serve_http: bool = True,
    ready: asyncio.Event | None = None,
) -> None:
    """Poll Feed v3 into Kafka until `stop` is set; every resource is closed on the way out."""
    config = PollerConfig.from_settings(settings)
    producer = ResilientProducer(
        ProducerConfig(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id="vtex-bridge-feed-poller",
            linger_ms=settings.ingress_linger_ms,
        )
    )
    client = ConfigApiClient.from_settings(settings)
    tracing = setup_tracing(settings, "feed-poller")
    input_topics = InputTopicResolver(settings)
    poller = FeedPoller(
        client,
        producer,
        config,
        PollerMetrics(),
        before_commit=before_commit,
        tracing=tracing,
        input_topics=input_topics,
    )
    runner: web.AppRunner | None = None
    await asyncio.gather(producer.start(), input_topics.start())
    try:
        await client.start()
        if serve_http:
            runner = web.AppRunner(create_app(settings, poller, producer), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, settings.feed_poll_http_host, settings.feed_poll_http_port).start()
        log.info(
            "feed poller started",
            extra={"account": settings.vtex_account, "topic": input_topics.produce_topic},
        )
        if ready is not None:
            ready.set()
        task = asyncio.create_task(poller.run(stop), name="feed-poller")
        try:
            await asyncio.shield(task)
        finally:
            # On cancellation of run_poller, stop the loop (bounded) instead of abandoning it.
            stop.set()
            if not task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        if runner is not None:
            await runner.cleanup()
        await client.close()
        await producer.stop()
        await input_topics.stop()
        await tracing.shutdown()
        log.info("feed poller stopped")
