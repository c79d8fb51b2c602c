"""The operator console: "what happened to order X?" as a web page and a JSON API on the worker.

`add_console(app, runtime, distribution)` mounts it on the console's own web app, served on its own
port (`console_host:console_port`, `processors.web.build_console_app`), never beside `/metrics`: the
Host check and the login (`auth`), the page (`page`), the API (`api`), the owner lookup (`ownership`,
fed by `directory`), the Kafka reads (`reader`) and the allow-list masking (`masking`). The timeline
it serves is written by the pipeline (`processors.timeline`). docs/console.md describes it for operators.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import ClientSession, web
from prometheus_client import CollectorRegistry, Gauge

from bridge.console_client import advertised_url
from bridge.settings import Settings
from processors.console import api, page
from processors.console.api import CONSOLE, Console, ConsoleRuntime, ReplayAll, ReplayOne
from processors.console.auth import Authenticator, guard, token_problems
from processors.console.ownership import Distribution, Owners
from processors.console.reader import RecordReader

__all__ = ["CONSOLE", "Console", "add_console"]

log = logging.getLogger(__name__)


async def replay_all(settings: Settings, **options: Any) -> dict[str, Any]:
    """Run `vtex-bridge replay` (same function, same target topic) with the console's options."""
    from bridge.topics.resolver import current_produce_topic
    from processors.replay import replay

    topic = await current_produce_topic(settings)
    return await replay(settings, input_topic=topic, **options)


async def replay_one(settings: Settings, *, partition: int, offset: int) -> dict[str, Any]:
    """Put one dead letter back, to the topic `vtex-bridge replay` would write."""
    from bridge.topics.resolver import current_produce_topic
    from processors.replay import replay_record

    topic = await current_produce_topic(settings)
    return await replay_record(settings, partition=partition, offset=offset, input_topic=topic)


def add_console(
    app: web.Application,
    runtime: ConsoleRuntime,
    distribution: Callable[[], Distribution],
    *,
    registry: CollectorRegistry,
    reader: RecordReader | None = None,
    replay_all_fn: ReplayAll = replay_all,
    replay_one_fn: ReplayOne = replay_one,
    timeline_orders: Callable[[], float] | None = None,
    partition_count: Callable[[], int | None] | None = None,
) -> Console:
    """Mount the console's page and API, behind its Host check and login, on `app`; return its state."""
    settings = runtime.settings
    auth = Authenticator(settings)
    requests, forwards, replays = api.console_metrics(registry)
    app.middlewares.append(guard(settings, auth, refused=requests))
    if not auth.configured:  # only possible in the dev profile (the worker refuses to start otherwise)
        log.warning(
            "the console has no login configured and refuses every API request: set "
            "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN to use it"
        )
    elif settings.console_admin_token.get_secret_value() or settings.console_read_token.get_secret_value():
        for problem in token_problems(settings):  # the dev profile: a weak token is only warned of
            log.warning("weak console token accepted in the dev profile", extra={"problem": problem})
    if timeline_orders is not None:
        Gauge(
            "vtex_bridge_processor_timeline_orders",
            "Orders with a timeline on this worker",
            registry=registry,
        ).set_function(timeline_orders)
    console = Console(
        runtime=runtime,
        owners=Owners(settings.input_topic, settings.input_topic_partitions, distribution, partition_count),
        own_url=advertised_url(settings),
        reader=reader or RecordReader(settings.kafka_bootstrap_servers),
        replay_all=replay_all_fn,
        replay_one=replay_one_fn,
        requests=requests,
        forwards=forwards,
        replays=replays,
        auth=auth,
    )
    app[CONSOLE] = console

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        console.session = ClientSession()
        try:
            yield
        finally:
            await console.session.close()
            await console.reader.close()

    app.cleanup_ctx.append(lifecycle)
    api.add_routes(app)
    page.add_routes(app)
    return console
