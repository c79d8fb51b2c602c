"""Run the feed poller as a service: producer, VTEX clients, poll loops and a small /metrics + /healthz app.

It polls the feed of every account of the registry (`bridge.accounts`) that has an appToken, each with
its own client (URL, appKey, appToken), rate budget, back-off and lanes, all lots bounded together by
`feed_poll_total_concurrency`; one producer serves them all. Accounts configured without an appToken
(hooks received only) are named in a warning and not polled.

`run_poller(settings, stop)` owns every resource's lifecycle (start, then `finally: stop`), so the CLI
(`vtex-bridge feed poll`) and the tests run exactly the same code. `/healthz` answers 200 while, for
every account, a Feed v3 read succeeded within `feed_poll_stale_after_s` and the Kafka producer is
connected, else 503 naming the accounts behind: a figure for operators and alerts. `/livez` answers 200
while the process serves HTTP: the liveness probe, since restarting the poller during a Kafka or VTEX
outage fixes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.accounts import Account, AccountRegistry, AccountsConfigError
from bridge.feed_poller.config import PollerConfig
from bridge.feed_poller.metrics import PollerMetrics
from bridge.feed_poller.poller import BeforeCommit, FeedPoller
from bridge.kafka_producer import ProducerConfig, ResilientProducer
from bridge.settings import Settings
from bridge.topics.resolver import InputTopicResolver
from bridge.tracing import setup_tracing
from bridge.vtex.config_api import ConfigApiClient

log = logging.getLogger(__name__)

POLLERS_KEY: Final = web.AppKey("pollers", list[FeedPoller])
METRICS_KEY: Final = web.AppKey("metrics", PollerMetrics)
PRODUCER_KEY: Final = web.AppKey("producer", ResilientProducer)
SETTINGS_KEY: Final = web.AppKey("settings", Settings)
#: Bound on stopping the poll loop before it is cancelled.
STOP_TIMEOUT_S: Final = 10.0


def create_app(
    settings: Settings,
    pollers: FeedPoller | list[FeedPoller],
    producer: ResilientProducer,
    metrics: PollerMetrics | None = None,
) -> web.Application:
    """Return the poller's HTTP app: Prometheus metrics and health (of one poller or every account's)."""
    app = web.Application()
    every = pollers if isinstance(pollers, list) else [pollers]
    app[SETTINGS_KEY] = settings
    app[POLLERS_KEY] = every
    app[METRICS_KEY] = metrics if metrics is not None else every[0].metrics.families
    app[PRODUCER_KEY] = producer
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/livez", _livez)
    return app


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS_KEY].registry
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _livez(_request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _healthz(request: web.Request) -> web.Response:
    pollers = request.app[POLLERS_KEY]
    stale_after = request.app[SETTINGS_KEY].feed_poll_stale_after_s
    accounts = {
        poller.account: {"feed_read_recently": poller.healthy(stale_after), "last_error": poller.last_error}
        for poller in pollers
    }
    reading = all(a["feed_read_recently"] for a in accounts.values())
    connected = request.app[PRODUCER_KEY].connected
    errors = [f"{name}: {a['last_error']}" for name, a in accounts.items() if a["last_error"]]
    body = {
        "status": "ok" if reading and connected else "unavailable",
        "feed_read_recently": reading,
        "producer_connected": connected,
        "last_error": "; ".join(errors) or None,
        "accounts": accounts,
    }
    return web.json_response(body, status=200 if reading and connected else 503)


def polled_accounts(settings: Settings) -> tuple[Account, ...]:
    """Return the registry's accounts with an appToken (the ones whose feed can be read), warning of
    the others; raise `AccountsConfigError` when none has one."""
    registry = AccountRegistry.from_settings(settings)
    polled = tuple(a for a in registry if a.app_token.get_secret_value())
    skipped = [a.name for a in registry if not a.app_token.get_secret_value()]
    if not polled:
        raise AccountsConfigError(
            "no configured account has an app token: the feed poller reads each account's feed "
            "with its appKey and appToken"
        )
    if skipped:
        log.warning("accounts without an app token are not polled", extra={"accounts": skipped})
    return polled


async def run_poller(
    settings: Settings,
    stop: asyncio.Event,
    *,
    before_commit: BeforeCommit | None = None,
    serve_http: bool = True,
    ready: asyncio.Event | None = None,
) -> None:
    """Poll every account's Feed v3 into Kafka until `stop` is set; every resource is closed on exit."""
    accounts = polled_accounts(settings)
    producer = ResilientProducer(
        ProducerConfig(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id="vtex-bridge-feed-poller",
            linger_ms=settings.ingress_linger_ms,
        )
    )
    clients = [ConfigApiClient.for_account(account, settings) for account in accounts]
    tracing = setup_tracing(settings, "feed-poller")
    input_topics = InputTopicResolver(settings)
    metrics = PollerMetrics()
    metrics.accounts.set(len(accounts))
    lots = asyncio.Semaphore(settings.feed_poll_total_concurrency)
    pollers = [
        FeedPoller(
            client,
            producer,
            PollerConfig.from_settings(settings, account),
            metrics.account(account.name),
            before_commit=before_commit,
            tracing=tracing,
            input_topics=input_topics,
            lots=lots,
        )
        for account, client in zip(accounts, clients, strict=True)
    ]
    runner: web.AppRunner | None = None
    await asyncio.gather(producer.start(), input_topics.start())
    try:
        for client in clients:
            await client.start()
        if serve_http:
            runner = web.AppRunner(create_app(settings, pollers, producer, metrics), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, settings.feed_poll_http_host, settings.feed_poll_http_port).start()
        log.info(
            "feed poller started",
            extra={"accounts": [a.name for a in accounts], "topic": input_topics.produce_topic},
        )
        if ready is not None:
            ready.set()
        tasks = [asyncio.create_task(p.run(stop), name=f"feed-poller-{p.account}") for p in pollers]
        try:
            await asyncio.shield(asyncio.gather(*tasks))
        finally:
            # On cancellation of run_poller (or one loop crashing), stop every loop (bounded) instead of
            # abandoning them.
            stop.set()
            pending = [task for task in tasks if not task.done()]
            if pending:
                await asyncio.wait(pending, timeout=STOP_TIMEOUT_S)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    finally:
        if runner is not None:
            await runner.cleanup()
        for client in clients:
            await client.close()
        await producer.stop()
        await input_topics.stop()
        await tracing.shutdown()
        log.info("feed poller stopped")
