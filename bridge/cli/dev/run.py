"""Run the whole bridge on one machine: local Kafka, simulator, worker(s) and ingress, with a live view.

On the embedded default (no `KAFKA_BOOTSTRAP_SERVERS`, no VTEX credentials) this starts a real local
Kafka broker, the VTEX simulator, the processor and the ingress, registers the ingress as the
simulator's hook through the same client `vtex-bridge hook` uses, and keeps orders flowing. With
`KAFKA_BOOTSTRAP_SERVERS` set it uses that cluster instead of the local broker; with VTEX credentials set
(`VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN`) there is no simulator: the worker reads the real OMS
and, when `VTEX_BRIDGE_DEV_PUBLIC_HOOK_URL` names where VTEX can reach the ingress, the hook is ensured
there.

`--accounts N` (simulator only) demos several accounts: the simulator serves the primary account and
`{account}-2` ... under `/accounts/{name}/`, an accounts file written in the run directory
(`bridge.cli.dev.accounts`) gives every service the same accounts, each account's hook and feed are
configured with its own credentials and secret, and each account's orders keep flowing.

This module starts the broker and runs the steps in order; `plan` says what starts where, `services`
starts and configures them, `live_view` (with `workload`) shows them at work.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys

import aiohttp

from bridge import local_kafka
from bridge.cli.dev.live_view import live_view
from bridge.cli.dev.plan import DevError, Plan, make_plan, port_or_free
from bridge.cli.dev.services import (
    configure_simulator_hook,
    ensure_real_hook,
    start_feed_poller,
    start_services,
)
from bridge.cli.dev.supervisor import Supervisor, inherited_environment
from bridge.settings import Settings


def run(settings: Settings, accounts: int = 1) -> int:
    """Start everything, show the live view until Ctrl-C or a service dies, stop everything."""
    run_dir = (settings.kafka_local_dir or local_kafka.default_cache_dir()) / "dev"
    broker: local_kafka.LocalKafka | None = None
    try:
        if settings.kafka_embedded:
            print("Starting the local Apache Kafka broker (first run downloads its jars with Maven)…")
            libs = local_kafka.ensure_distribution(settings.kafka_local_version, settings.kafka_local_dir)
            # The demo's broker starts empty, so what the view counts is this run's traffic.
            shutil.rmtree(run_dir / "kafka", ignore_errors=True)
            broker = local_kafka.LocalKafka(
                libs=libs, work_dir=run_dir / "kafka", port=port_or_free(settings.kafka_local_port)
            )
            broker.start()
            bootstrap = broker.bootstrap
        else:
            bootstrap = settings.kafka_bootstrap_servers
        plan = make_plan(settings, bootstrap, run_dir, accounts)
        return asyncio.run(_orchestrate(plan, embedded=broker is not None))
    except (local_kafka.LocalKafkaError, DevError) as exc:
        print(f"vtex-bridge dev: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if broker is not None:
            print("Stopping the local Kafka broker…")
            broker.stop()


async def _orchestrate(plan: Plan, *, embedded: bool) -> int:
    """Start the services, configure the hook (and feed), then show the live view; stop them all."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(log_dir=plan.run_dir / "logs", base_env={**inherited_environment(), **plan.env})
    async with aiohttp.ClientSession() as session:
        try:
            await start_services(plan, supervisor, session, stop)
            if stop.is_set():
                return 0
            if plan.with_simulator:
                await configure_simulator_hook(plan)
                await start_feed_poller(plan, supervisor, session, stop)
            elif plan.settings.dev_public_hook_url:
                await ensure_real_hook(plan)
            return await live_view(plan, supervisor, session, stop, embedded=embedded)
        finally:
            print("Stopping the services…")
            supervisor.stop_all()
