"""HTTP endpoints of a worker, on two ports: Prometheus `/metrics`, liveness `/health` and readiness
`/ready` on `worker_web_host:worker_web_port` (`build_web_app`); the operator console (`/console`,
`/api/...`: `processors.console`), which serves customer orders behind a login, on its own
`console_host:console_port` (`build_console_app`), so that exposing one never exposes the other.

Readiness fails while OMS refuses our credentials (the worker has stopped consuming on purpose) so an
orchestrator and an alert can see it; liveness stays up (restarting would not fix credentials).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from processors.console import add_console
from processors.console.directory import OwnerDirectory
from processors.runtime import Runtime

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[RUNTIME].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", **request.app[RUNTIME].health()})


async def ready(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body: dict[str, Any] = {"ready": runtime.ready(), **runtime.health()}
    return web.json_response(body, status=200 if body["ready"] else 503)


def build_web_app(runtime: Runtime) -> web.Application:
    """Return the worker's metrics and health app."""
    app = web.Application()
    app[RUNTIME] = runtime
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    # The names the ingress and the feed poller use, so probes and scripts need not know which is which.
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", ready)
    return app


def build_console_app(runtime: Runtime, directory: OwnerDirectory | None = None) -> web.Application:
    """Return the console's app; `directory` tells it who owns which input partition."""
    app = web.Application()

    def timeline_orders() -> float:
        return float(sum(len(w.timeline) for w in runtime.writers.values() if w.timeline is not None))

    add_console(
        app,
        runtime,
        directory.distribution if directory is not None else dict,
        registry=runtime.metrics.registry,
        timeline_orders=timeline_orders,
        partition_count=directory.partition_count if directory is not None else None,
    )
    return app
