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
(`bridge.dev.accounts`) gives every service the same accounts, each account's hook and feed are
configured with its own credentials and secret, and each account's orders keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

from bridge import local_kafka
from bridge.dev import scrape
from bridge.dev.dashboard import ErrorTail, Snapshot, render
from bridge.dev.kafka_view import KafkaSnapshot, KafkaView
from bridge.dev.supervisor import Supervisor, inherited_environment
from bridge.settings import SIMULATOR_ACCOUNT, Settings

READY_TIMEOUT_S: Final = 90.0
#: Orders per simulator workload batch; a new batch starts when the previous one is delivered.
BATCH_ORDERS: Final = 40
PLAIN_PRINT_EVERY_S: Final = 5.0


class DevError(RuntimeError):
    """A service did not come up; the message says which and shows its log tail."""


def port_or_free(port: int) -> int:
    """Return `port` when nothing listens on it, else a free one (the demo must start anyway)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return local_kafka.free_port()
    return port


@dataclass
class Plan:
    """What this run starts and where everything listens."""

    settings: Settings
    bootstrap: str
    with_simulator: bool
    ingress_port: int
    sim_port: int
    worker_ports: list[int]
    feed_poller_port: int
    run_dir: Path
    #: Each worker's console port, and the token the console asks for (generated for this run unless
    #: `console_admin_token` is set: `console_token_generated`).
    console_ports: list[int] = field(default_factory=list)
    console_token: str = ""
    console_token_generated: bool = False
    env: dict[str, str] = field(default_factory=dict)
    #: The simulator's accounts, the primary first (one unless `--accounts`).
    accounts: list[str] = field(default_factory=list)

    def account_url(self, name: str) -> str:
        """The simulator's base URL of account `name` (the primary is also served at the root)."""
        return f"{self.sim_url}/accounts/{name}"

    def console_url(self, port: int) -> str:
        """The console's address; with a token generated for this run, a link that logs in (the page
        takes the token from the `#token=` fragment, which never reaches a server, and wipes it)."""
        url = f"http://127.0.0.1:{port}/console"
        return f"{url}#token={self.console_token}" if self.console_token_generated else url

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"


def make_plan(settings: Settings, bootstrap: str, run_dir: Path, accounts: int = 1) -> Plan:
    with_simulator = settings.vtex_account == SIMULATOR_ACCOUNT
    if accounts > 1 and not with_simulator:
        raise DevError(
            "--accounts demos several simulated accounts; for your own accounts list them in "
            "VTEX_BRIDGE_ACCOUNTS_FILE instead"
        )
    plan = Plan(
        settings=settings,
        bootstrap=bootstrap,
        with_simulator=with_simulator,
        ingress_port=port_or_free(settings.ingress_port),
        sim_port=port_or_free(settings.sim_port),
        worker_ports=[port_or_free(settings.worker_web_port + i) for i in range(settings.dev_workers)],
        feed_poller_port=port_or_free(settings.feed_poll_http_port),
        run_dir=run_dir,
        console_ports=[port_or_free(settings.console_port + i) for i in range(settings.dev_workers)],
        console_token=settings.console_admin_token.get_secret_value() or secrets.token_urlsafe(24),
        console_token_generated=not settings.console_admin_token.get_secret_value(),
    )
    plan.env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "VTEX_BRIDGE_INGRESS_PORT": str(plan.ingress_port),
        # /metrics of the ingress has its own port (not the hook port): see `_ingress_metrics_url`.
        "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(port_or_free(settings.ingress_metrics_port)),
        "VTEX_BRIDGE_SIM_PORT": str(plan.sim_port),
        "VTEX_BRIDGE_FEED_POLL_HTTP_PORT": str(plan.feed_poller_port),
        "VTEX_BRIDGE_LOG_FORMAT": "json",
    }
    if "worker_create_topics" not in settings.model_fields_set:
        plan.env["VTEX_BRIDGE_WORKER_CREATE_TOPICS"] = "true"  # the demo's workers create their topics
    if "ingress_workers" not in settings.model_fields_set:
        plan.env["VTEX_BRIDGE_INGRESS_WORKERS"] = "1"  # one process: the demo's load needs no more cores
    if "worker_store" not in settings.model_fields_set:
        # A demo's state lives as long as its broker: dicts suffice (anything else defaults to RocksDB).
        plan.env["VTEX_BRIDGE_WORKER_STORE"] = "memory://"
    if with_simulator:
        plan.env["VTEX_BRIDGE_VTEX_BASE_URL"] = plan.sim_url
        # The simulator's public credentials and the default hook secret are accepted only in the dev
        # profile; against a real account the services keep the production checks.
        plan.env["VTEX_BRIDGE_PROFILE"] = "dev"
        plan.accounts = [settings.vtex_account]
    if with_simulator and accounts > 1:
        from bridge.dev.accounts import demo_account_names, write_demo_accounts

        plan.accounts = demo_account_names(settings, accounts)
        plan.env.update(
            {
                "VTEX_BRIDGE_ACCOUNTS_FILE": str(write_demo_accounts(settings, accounts, run_dir)),
                # One template for every account, the primary included (served under its prefix too).
                "VTEX_BRIDGE_VTEX_BASE_URL": f"{plan.sim_url}/accounts/{{account}}",
                # Named explicitly: next to an accounts file, the settings' account counts only when set.
                "VTEX_ACCOUNT": settings.vtex_account,
            }
        )
    return plan


def _children_settings(plan: Plan) -> Settings:
    """The settings the services see (the plan's environment over this process's settings)."""
    update: dict[str, object] = {"vtex_base_url": plan.sim_url}
    if len(plan.accounts) > 1:
        update = {
            "vtex_base_url": plan.env["VTEX_BRIDGE_VTEX_BASE_URL"],
            "accounts_file": Path(plan.env["VTEX_BRIDGE_ACCOUNTS_FILE"]),
            "vtex_account": plan.settings.vtex_account,
            "profile": "dev",
        }
    return plan.settings.model_copy(update=update)


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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(log_dir=plan.run_dir / "logs", base_env={**inherited_environment(), **plan.env})
    async with aiohttp.ClientSession() as session:
        try:
            await _start_services(plan, supervisor, session, stop)
            if stop.is_set():
                return 0
            if plan.with_simulator:
                await _configure_simulator_hook(plan)
                await _start_feed_poller(plan, supervisor, session, stop)
            elif plan.settings.dev_public_hook_url:
                await _ensure_real_hook(plan)
            return await _live_view(plan, supervisor, session, stop, embedded=embedded)
        finally:
            print("Stopping the services…")
            supervisor.stop_all()


async def _wait_http(
    session: aiohttp.ClientSession, name: str, url: str, supervisor: Supervisor, stop: asyncio.Event
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not stop.is_set():
        for child in supervisor.failed():
            raise DevError(
                f"{child.name} exited with code {child.exit_code}:\n" + "\n".join(child.log_tail(15))
            )
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with asyncio.timeout(2), session.get(url) as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise DevError(f"{name} did not become ready at {url} within {READY_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.25)


async def _start_services(
    plan: Plan, supervisor: Supervisor, session: aiohttp.ClientSession, stop: asyncio.Event
) -> None:
    if plan.with_simulator:
        print(f"Starting the VTEX simulator on {plan.sim_url}…")
        # A little at-least-once realism, so the view shows de-duplication and late events at work.
        supervisor.spawn(
            "sim", "sim", "--allow-http-hooks", "--orders", "0", "--no-wait",
            "--duplicate-rate", "0.05", "--reorder-rate", "0.03", "--accounts", str(len(plan.accounts)),
        )  # fmt: skip
        await _wait_http(session, "the simulator", f"{plan.sim_url}/_sim/stats", supervisor, stop)
    for i, (port, console) in enumerate(zip(plan.worker_ports, plan.console_ports, strict=True), start=1):
        print(f"Starting worker {i} (metrics on :{port}, console on :{console})…")
        env = {
            "VTEX_BRIDGE_WORKER_WEB_PORT": str(port),
            "VTEX_BRIDGE_CONSOLE_PORT": str(console),
            "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": plan.console_token,
        }
        supervisor.spawn(f"worker-{i}", "worker", env=env)
    for i, port in enumerate(plan.worker_ports, start=1):
        await _wait_http(session, f"worker {i}", f"http://127.0.0.1:{port}/ready", supervisor, stop)
    print(f"Starting the ingress on {plan.ingress_url}…")
    supervisor.spawn("ingress", "ingress")
    await _wait_http(session, "the ingress", f"{plan.ingress_url}/readyz", supervisor, stop)


def _hook_url(plan: Plan) -> str:
    return f"{plan.ingress_url}{plan.settings.ingress_path}"


def _ingress_metrics_url(plan: Plan) -> str:
    """The ingress's /metrics, on the metrics port `make_plan` gave it."""
    return f"http://127.0.0.1:{plan.env['VTEX_BRIDGE_INGRESS_METRICS_PORT']}/metrics"


async def _configure_simulator_hook(plan: Plan) -> None:
    """Register the ingress as each simulated account's hook, the way `vtex-bridge hook set` does."""
    from bridge.accounts import AccountRegistry
    from bridge.dev.hook import configure_account_hook, configure_every_change_hook

    settings = _children_settings(plan)
    if len(plan.accounts) == 1:
        await configure_every_change_hook(settings, _hook_url(plan), allow_http=True)
        return
    for account in AccountRegistry.from_settings(settings):
        await configure_account_hook(settings, account, _hook_url(plan), allow_http=True)


async def _start_feed_poller(
    plan: Plan, supervisor: Supervisor, session: aiohttp.ClientSession, stop: asyncio.Event
) -> None:
    """Configure the simulator's feed and run the backup poller beside the hook."""
    from bridge.accounts import AccountRegistry
    from bridge.dev.hook import configure_account_feed, configure_demo_feed

    settings = _children_settings(plan)
    if len(plan.accounts) == 1:
        await configure_demo_feed(settings)
    else:
        for account in AccountRegistry.from_settings(settings):
            await configure_account_feed(settings, account)
    print(f"Starting the Feed v3 poller (metrics on :{plan.feed_poller_port})…")
    supervisor.spawn("feed-poller", "feed", "poll")
    await _wait_http(
        session, "the feed poller", f"http://127.0.0.1:{plan.feed_poller_port}/healthz", supervisor, stop
    )


async def _ensure_real_hook(plan: Plan) -> None:
    from bridge.dev.hook import configure_every_change_hook

    await configure_every_change_hook(plan.settings, plan.settings.dev_public_hook_url, allow_http=False)


async def _sim_stats(session: aiohttp.ClientSession, plan: Plan) -> dict[str, dict[str, Any] | None]:
    """Return each simulated account's `/_sim/stats` (None where it could not be read)."""
    if len(plan.accounts) == 1:
        return {plan.accounts[0]: await scrape.json_document(session, f"{plan.sim_url}/_sim/stats")}
    return {
        name: await scrape.json_document(session, f"{plan.account_url(name)}/_sim/stats")
        for name in plan.accounts
    }


def _summed(stats: dict[str, dict[str, Any] | None]) -> dict[str, Any] | None:
    """The simulator's stats over every account: the hook sender's counts added up."""
    documents = [s for s in stats.values() if s is not None]
    if len(documents) <= 1:
        return documents[0] if documents else None
    sender: dict[str, float] = {}
    for document in documents:
        for key, value in document.get("sender", {}).items():
            if isinstance(value, int | float):
                sender[key] = sender.get(key, 0) + value
    return {"sender": sender, "accounts": len(documents)}


async def _top_up_workload(
    session: aiohttp.ClientSession, plan: Plan, sim: dict[str, Any] | None, account: str | None = None
) -> int:
    """Start another batch of orders when the (account's) simulator has nothing left to send; return
    orders started."""
    if sim is None:
        return 0
    sender = sim.get("sender", sim)
    pending = sender.get("pending", 0) if isinstance(sender, dict) else 0
    running = sender.get("running", False) if isinstance(sender, dict) else False
    if pending or running:
        return 0
    body = {"orders": BATCH_ORDERS, "seed": int(time.time()), "rate_per_s": plan.settings.dev_rate_per_s}
    base = plan.sim_url if account is None or len(plan.accounts) == 1 else plan.account_url(account)
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with asyncio.timeout(5), session.post(f"{base}/_sim/workload", json=body) as response:
            if response.status == 202:
                return BATCH_ORDERS
    return 0


async def _live_view(
    plan: Plan, supervisor: Supervisor, session: aiohttp.ClientSession, stop: asyncio.Event, *, embedded: bool
) -> int:
    settings = plan.settings
    kafka = KafkaView(plan.bootstrap)
    await kafka.start()
    errors = ErrorTail()
    for child in supervisor.children:
        errors.skip_existing(child.name, child.log_path)
    header = (
        "vtex-kafka-bridge — live  "
        + (f"(local Kafka {plan.bootstrap}" if embedded else f"(Kafka {plan.bootstrap}")
        + (" + VTEX simulator)" if plan.with_simulator else f" + VTEX account {settings.vtex_account})")
    )
    endpoints = [
        f"Hook URL   {_hook_url(plan)}   metrics {_ingress_metrics_url(plan)}",
        *(
            f"Worker {i}   console {plan.console_url(c)}   metrics http://127.0.0.1:{p}/metrics"
            for i, (p, c) in enumerate(zip(plan.worker_ports, plan.console_ports, strict=True), start=1)
        ),
        *(
            []
            if plan.console_token_generated
            else ["Console    log in with the token in VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN"]
        ),
        *(
            [
                f"Simulator  {plan.sim_url}   stats {plan.sim_url}/_sim/stats",
                *(
                    [f"Accounts   {', '.join(plan.accounts)}   each at {plan.sim_url}/accounts/<name>"]
                    if len(plan.accounts) > 1
                    else []
                ),
                f"Feed v3    poller metrics http://127.0.0.1:{plan.feed_poller_port}/metrics",
            ]
            if plan.with_simulator
            else []
        ),
        f"Logs       {supervisor.log_dir}",
    ]
    tty = sys.stdout.isatty()
    previous: Snapshot | None = None
    last_print = 0.0
    orders_started = 0
    try:
        while not stop.is_set():
            per_account = await _sim_stats(session, plan) if plan.with_simulator else {}
            sim = _summed(per_account)
            for name, stats in per_account.items():
                if settings.dev_orders == 0 or orders_started < settings.dev_orders:
                    orders_started += await _top_up_workload(session, plan, stats, name)
            snap = Snapshot(
                at=time.monotonic(),
                services={"kafka": True, **{c.name: c.running for c in supervisor.children}},
                ingress=await scrape.prometheus(session, _ingress_metrics_url(plan)),
                feed=(
                    await scrape.prometheus(session, f"http://127.0.0.1:{plan.feed_poller_port}/metrics")
                    if plan.with_simulator
                    else None
                ),
                workers=[
                    await scrape.prometheus(session, f"http://127.0.0.1:{p}/metrics")
                    for p in plan.worker_ports
                ],
                sim=sim,
                kafka=await _kafka_snapshot(kafka, settings),
            )
            snap.services["kafka"] = snap.kafka is not None
            for child in supervisor.children:
                errors.read_new(child.name, child.log_path)
            snap.errors = errors.recent
            screen = render(snap, previous, header, endpoints)
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J" + screen + "\n")
                sys.stdout.flush()
            elif time.monotonic() - last_print >= PLAIN_PRINT_EVERY_S:
                print(screen + "\n", flush=True)
                last_print = time.monotonic()
            previous = snap
            dead = supervisor.failed()
            if dead:
                for child in dead:
                    print(
                        f"\n{child.name} exited with code {child.exit_code}; its last lines:", file=sys.stderr
                    )
                    print("\n".join(child.log_tail(20)), file=sys.stderr)
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.dev_refresh_s)
        return 0
    finally:
        await kafka.stop()


async def _kafka_snapshot(kafka: KafkaView, settings: Settings) -> KafkaSnapshot | None:
    try:
        return await kafka.snapshot(
            (settings.input_topic, settings.status_topic_prefix, settings.dead_letter_topic),
            settings.input_topic,
            settings.worker_app_id,
        )
    except Exception:  # noqa: BLE001 - the view shows Kafka as down and keeps going
        return None
