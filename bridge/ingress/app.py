"""Build the ingress aiohttp applications from the settings (factories, no import-time globals).

Two apps share one state: the hook app (the hook, /healthz, /readyz) on the public port, and the
metrics app (/metrics) on its own address (`ingress_metrics_host:ingress_metrics_port`, loopback by
default), because the metrics name accounts and volumes that the public has no business reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.ingress.accounts import HookAccount, load_accounts
from bridge.ingress.auth import Authenticator
from bridge.ingress.handlers import handle_healthz, handle_hook, handle_readyz
from bridge.ingress.metrics import IngressMetrics
from bridge.ingress.responses import json_errors
from bridge.ingress.state import STATE, HookProducer, IngressState
from bridge.ingress.tracing import traced_hook
from bridge.kafka_producer import ProducerConfig, ResilientProducer
from bridge.settings import Settings
from bridge.topics.resolver import InputTopicSource, resolver_for
from bridge.tracing import Tracing, setup_tracing


def build_producer(settings: Settings) -> ResilientProducer:
    """Return the ingress's idempotent acks=all producer, batching for `ingress_linger_ms`."""
    return ResilientProducer(
        ProducerConfig(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id="vtex-bridge-ingress",
            linger_ms=settings.ingress_linger_ms,
            wedge_after_s=settings.ingress_producer_wedge_after_s,
            instances=settings.ingress_producer_instances,
            stop_timeout_s=settings.ingress_shutdown_timeout_s,
        )
    )


def create_app(
    settings: Settings,
    *,
    producer: HookProducer | None = None,
    accounts: tuple[HookAccount, ...] | None = None,
    tracing: Tracing | None = None,
    input_topics: InputTopicSource | None = None,
    refresh_metrics_every: float | None = None,
) -> web.Application:
    """Return the ingress app; it starts `producer` on startup and stops (flushes) it on cleanup.

    `producer` defaults to a `ResilientProducer` on `settings.kafka_bootstrap_servers`; tests and the
    benchmark inject fakes. `accounts` defaults to `load_accounts(settings)` (raises
    `AccountsConfigError` on a bad configuration, before anything is served). `tracing` defaults to
    `setup_tracing(settings, "ingress")`, which the app then shuts down on cleanup (an injected one is
    the caller's). `input_topics` (which topic to write now) follows the input generation in the
    control topic (`bridge.topics.resolver`); with an injected producer it defaults to the fixed
    `settings.input_topic`, as a fake producer has no cluster to read it from.
    `refresh_metrics_every`: a worker of several (bridge.ingress.workers) writes its sampled gauges
    that often, as nobody scrapes it directly.
    """
    metrics = IngressMetrics()
    state = IngressState(
        settings=settings,
        authenticator=Authenticator(accounts if accounts is not None else load_accounts(settings)),
        metrics=metrics,
        producer=producer if producer is not None else build_producer(settings),
        tracing=tracing if tracing is not None else setup_tracing(settings, "ingress"),
        input_topics=input_topics or resolver_for(settings, static=producer is not None),
    )
    if refresh_metrics_every is None:
        metrics.in_flight.set_function(lambda: state.in_flight)
    app = web.Application(client_max_size=settings.ingress_max_body_bytes, middlewares=[json_errors])
    app[STATE] = state
    if tracing is None and state.tracing.enabled:
        app.cleanup_ctx.append(_tracing_lifecycle)  # first in, so cleaned up last: after the flush
    app.cleanup_ctx.append(_producer_lifecycle)
    if refresh_metrics_every is not None:
        app.cleanup_ctx.append(functools.partial(_metrics_refresh, every=refresh_metrics_every))
    hook_handler = traced_hook(handle_hook, settings.ingress_path) if state.tracing.enabled else handle_hook
    app.router.add_post(settings.ingress_path, hook_handler)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    return app


def create_metrics_app(hook_app: web.Application) -> web.Application:
    """Return the app serving `/metrics` of `hook_app` (same state; it has no lifecycle of its own)."""
    app = web.Application(middlewares=[json_errors])
    app[STATE] = hook_app[STATE]
    app.router.add_get("/metrics", handle_metrics)
    return app


async def _producer_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start the producer (a broker that is down is not fatal: hooks get 503 until it is back)."""
    state = app[STATE]
    topics = state.input_topics
    # Both bounded; the generation's first read runs alongside the producer's first connection.
    await asyncio.gather(state.producer.start(), *([topics.start()] if topics is not None else []))
    yield
    # aiohttp runs this after the site stopped accepting and in-flight handlers finished, so stopping
    # here flushes what they produced.
    try:
        await state.producer.stop(state.settings.ingress_shutdown_timeout_s)
    finally:
        if topics is not None:
            await topics.stop()


async def _metrics_refresh(app: web.Application, *, every: float) -> AsyncIterator[None]:
    """Write the sampled gauges every `every` seconds while the app runs (a worker of several)."""
    state = app[STATE]

    async def refresh() -> None:
        while True:
            state.metrics.refresh(state.producer.stats(), state.accepted, state.in_flight)
            await asyncio.sleep(every)

    task = asyncio.create_task(refresh(), name="ingress-metrics-refresh")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    state.metrics.refresh(state.producer.stats(), state.accepted, state.in_flight)


async def _tracing_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Export the spans still queued (bounded) once the producer is stopped."""
    yield
    await app[STATE].tracing.shutdown()


async def handle_metrics(request: web.Request) -> web.Response:
    """Serve the app's Prometheus metrics."""
    state = request.app[STATE]
    state.metrics.refresh(state.producer.stats(), state.accepted)
    return web.Response(
        body=generate_latest(state.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def create_shared_metrics_app(directory: Path) -> web.Application:
    """Return the app serving `/metrics` aggregated over the worker processes writing to `directory`."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]

    async def handle(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/metrics", handle)
    return app
