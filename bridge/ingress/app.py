"""Build the ingress aiohttp application from the settings (a factory, no import-time globals)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.ingress.accounts import HookAccount, load_accounts
from bridge.ingress.auth import Authenticator
from bridge.ingress.handlers import handle_healthz, handle_hook, handle_readyz
from bridge.ingress.metrics import IngressMetrics
from bridge.ingress.responses import json_errors
from bridge.ingress.state import STATE, HookProducer, IngressState
from bridge.kafka_producer import ProducerConfig, ResilientProducer
from bridge.settings import Settings


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
) -> web.Application:
    """Return the ingress app; it starts `producer` on startup and stops (flushes) it on cleanup.

    `producer` defaults to a `ResilientProducer` on `settings.kafka_bootstrap_servers`; tests and the
    benchmark inject fakes. `accounts` defaults to `load_accounts(settings)` (raises
    `AccountsConfigError` on a bad configuration, before anything is served).
    """
    metrics = IngressMetrics()
    state = IngressState(
        settings=settings,
        authenticator=Authenticator(accounts if accounts is not None else load_accounts(settings)),
        metrics=metrics,
        producer=producer if producer is not None else build_producer(settings),
    )
    metrics.in_flight.set_function(lambda: state.in_flight)
    app = web.Application(client_max_size=settings.ingress_max_body_bytes, middlewares=[json_errors])
    app[STATE] = state
    app.cleanup_ctx.append(_producer_lifecycle)
    app.router.add_post(settings.ingress_path, handle_hook)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    app.router.add_get("/metrics", handle_metrics)
    return app


async def _producer_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start the producer (a broker that is down is not fatal: hooks get 503 until it is back)."""
    state = app[STATE]
    await state.producer.start()
    yield
    # aiohttp runs this after the site stopped accepting and in-flight handlers finished, so stopping
    # here flushes what they produced.
    await state.producer.stop(state.settings.ingress_shutdown_timeout_s)


async def handle_metrics(request: web.Request) -> web.Response:
    """Serve the app's Prometheus metrics."""
    state = request.app[STATE]
    stats = state.producer.stats()
    state.metrics.producer_connected.set(1 if stats.connected else 0)
    state.metrics.producer_recreations.set(stats.recreations)
    return web.Response(
        body=generate_latest(state.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
