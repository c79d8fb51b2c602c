"""The chaos harness: one private bridge (simulator, worker(s), ingress, optional feed poller) per scenario.

Every service runs as its real `vtex-bridge <command>` process (`bridge.cli.dev.supervisor`), the way
`make run` starts them, on free loopback ports, with topic names, consumer group and transactional ids of
its own, so scenarios never see each other's records even on a shared broker. A scenario then

1. starts a seeded workload on the simulator (`POST /_sim/workload`),
2. injects its fault through the process handles (`Child.kill()`, `.signal(SIGSTOP)`, the broker's
   `LocalKafka.stop()/kill()`) or the simulator's knobs (`POST /_sim/controls`),
3. waits, with deadlines, until VTEX has nothing left to deliver and the processor's consumer group has
   committed the end of the input topic, and
4. runs the checker (`testkit.checker`) against what the simulator recorded as accepted.

Every known status is routed to one topic (`<prefix>all`, unknown ones still go to `<prefix>unknown`), so
that the records of an order compare by offset (see the checker's note on emission order).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bridge.cli.dev.hook import configure_every_change_hook
from bridge.cli.dev.supervisor import Child, Supervisor
from bridge.local_kafka import LocalKafka, free_port
from bridge.settings import SIMULATOR_ACCOUNT, load_settings
from bridge.statuses import KNOWN_STATUSES
from testkit import probes
from testkit.checker import CheckResult, Expectation, check_kafka
from testkit.kafka import unique, wait_until
from testkit.sim_client import SimClient, Workload

READY_TIMEOUT_S = 90.0
HTTP_TIMEOUT_S = 10.0
#: Bound of the settle phase (VTEX has nothing pending, the processor committed the input's end).
SETTLE_TIMEOUT_S = 150.0
PARTITIONS = 4
ROUTE_ALL = "all"


@dataclass
class BridgeOptions:
    """What a scenario changes in the bridge it runs."""

    seed: int = 7
    #: VTEX seconds per real second: retries of failed hooks come 10x sooner than at VTEX.
    time_compression: float = 10.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    #: Extra environment of every service (e.g. a worker or feed-poller setting).
    env: dict[str, str] = field(default_factory=dict)
    with_feed_poller: bool = False
    #: The simulator's per-account limit of each API family (requests/min; 0 = none, the default here).
    sim_rate_limit_per_minute: int = 0
    #: Simulated accounts (the primary plus `simaccount-2` ...), all in the bridge's account registry,
    #: each with its hook (and feed) pointed at the bridge.
    accounts: int = 1


class Bridge:
    """See the module docstring; build with `await Bridge.create(...)`, end with `await stop()`."""

    def __init__(self, bootstrap: str, work_dir: Path, options: BridgeOptions, broker: LocalKafka | None):
        self.bootstrap = bootstrap
        self.broker = broker
        self.work_dir = work_dir
        self.options = options
        name = unique("chaos")
        self.app_id = name
        self.input_topic = f"{name}.in"
        self.status_prefix = f"{name}.st."
        self.dead_letter_topic = f"{name}.dlq"
        self.sim_port = free_port()
        self.ingress_port = free_port()
        self.feed_port = free_port()
        #: The registry file of the simulator's further accounts (written once: it holds their secrets).
        self.accounts_file = self._accounts_file() if options.accounts > 1 else None
        self.supervisor = Supervisor(log_dir=work_dir / "logs", base_env=self._env())
        self.workers: list[Child] = []
        self.worker_ports: dict[str, int] = {}
        self.sim: Child | None = None
        self.ingress: Child | None = None
        self.feed_poller: Child | None = None
        #: Services a scenario took down on purpose (their death is no failure).
        self.down: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self.started_at = time.monotonic()

    # --- setup ---------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "KAFKA_BOOTSTRAP"))}
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "VTEX_BRIDGE_INPUT_TOPIC": self.input_topic,
                "VTEX_BRIDGE_STATUS_TOPIC_PREFIX": self.status_prefix,
                "VTEX_BRIDGE_DEAD_LETTER_TOPIC": self.dead_letter_topic,
                "VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS": str(PARTITIONS),
                "VTEX_BRIDGE_WORKER_APP_ID": self.app_id,
                "VTEX_BRIDGE_WORKER_ROUTE_GROUPS": orjson.dumps({ROUTE_ALL: list(KNOWN_STATUSES)}).decode(),
                "VTEX_BRIDGE_WORKER_SESSION_TIMEOUT_S": "6",
                "VTEX_BRIDGE_WORKER_CREATE_TOPICS": "true",
                "VTEX_BRIDGE_WORKER_RETRY_BACKOFF_MAX_S": "1",
                "VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S": "1000",
                "VTEX_BRIDGE_OMS_BACKOFF_MAX_S": "0.5",
                "VTEX_BRIDGE_INGRESS_PORT": str(self.ingress_port),
                "VTEX_BRIDGE_INGRESS_METRICS_PORT": str(free_port()),
                "VTEX_BRIDGE_SIM_PORT": str(self.sim_port),
                "VTEX_BRIDGE_VTEX_BASE_URL": self.sim_url,
                "VTEX_BRIDGE_FEED_POLL_HTTP_PORT": str(self.feed_port),
                "VTEX_BRIDGE_FEED_POLL_IDLE_S": "0.2",
                "VTEX_BRIDGE_FEED_POLL_RATE_PER_S": "50",
                "VTEX_BRIDGE_FEED_POLL_BACKOFF_MAX_S": "2",
                "VTEX_BRIDGE_LOG_FORMAT": "json",
                "VTEX_BRIDGE_PROFILE": "dev",  # the simulator's credentials and default hook secret
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.accounts_file is not None:
            env.update(
                {
                    "VTEX_ACCOUNT": SIMULATOR_ACCOUNT,
                    "VTEX_BRIDGE_VTEX_BASE_URL": f"{self.sim_url}/accounts/{{account}}",
                    "VTEX_BRIDGE_ACCOUNTS_FILE": str(self.accounts_file),
                }
            )
        env.update(self.options.env)
        return env

    def _accounts_file(self) -> Path:
        """Write the registry file of the simulator's further accounts (as `vtex-bridge dev` does)."""
        from bridge.cli.dev.accounts import write_demo_accounts

        return write_demo_accounts(load_settings(kafka_embedded=False), self.options.accounts, self.work_dir)

    @property
    def account_names(self) -> list[str]:
        """The simulated accounts, the primary first."""
        return [SIMULATOR_ACCOUNT, *(f"{SIMULATOR_ACCOUNT}-{n}" for n in range(2, self.options.accounts + 1))]

    def account_url(self, name: str) -> str:
        """The simulator's base URL of account `name`."""
        return f"{self.sim_url}/accounts/{name}"

    def vtex_of(self, name: str) -> SimClient:
        """The simulator's HTTP API of account `name` (its workloads, knobs, counters)."""
        return SimClient(self.session, self.account_url(name))

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @classmethod
    async def create(
        cls, bootstrap: str, work_dir: Path, options: BridgeOptions, broker: LocalKafka | None = None
    ) -> Bridge:
        bridge = cls(bootstrap, work_dir, options, broker)
        try:
            await bridge._start()
        except BaseException:
            await bridge.stop()
            raise
        return bridge

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        o = self.options
        self.sim = self.supervisor.spawn(
            "sim", "sim", "--allow-http-hooks", "--orders", "0", "--no-wait",
            "--rate-limit", str(o.sim_rate_limit_per_minute),
            "--seed", str(o.seed), "--time-compression", str(o.time_compression),
            "--duplicate-rate", str(o.duplicate_rate), "--reorder-rate", str(o.reorder_rate),
            "--accounts", str(o.accounts),
        )  # fmt: skip
        await self.wait_http(self.sim, f"{self.sim_url}/_sim/stats")
        await self.add_worker()
        self.ingress = self.supervisor.spawn("ingress", "ingress")
        await self.wait_http(self.ingress, f"{self.ingress_url}/readyz")
        settings = load_settings(vtex_base_url=self.sim_url, kafka_embedded=False)
        if o.accounts > 1:
            await self._configure_accounts(f"{self.ingress_url}{settings.ingress_path}")
        else:
            await configure_every_change_hook(
                settings, f"{self.ingress_url}{settings.ingress_path}", allow_http=True
            )
        if o.with_feed_poller:
            await self.vtex.configure_every_change_feed()
            self.feed_poller = self.supervisor.spawn("feed-poller", "feed", "poll")
            await self.wait_http(self.feed_poller, f"http://127.0.0.1:{self.feed_port}/healthz")

    async def _configure_accounts(self, hook_url: str) -> None:
        """Point every account's hook (and feed, with a poller) at the bridge with its own credentials."""
        from bridge.accounts import AccountRegistry
        from bridge.cli.dev.hook import configure_account_feed, configure_account_hook

        settings = load_settings(
            vtex_account=SIMULATOR_ACCOUNT,
            vtex_base_url=f"{self.sim_url}/accounts/{{account}}",
            accounts_file=self.accounts_file,
            profile="dev",
            kafka_embedded=False,
        )
        for account in AccountRegistry.from_settings(settings):
            await configure_account_hook(settings, account, hook_url, allow_http=True)
            if self.options.with_feed_poller and account.name != SIMULATOR_ACCOUNT:
                await configure_account_feed(settings, account)

    async def add_worker(self) -> Child:
        """Start one more worker of the group and wait until it owns partitions."""
        name = f"worker-{len(self.workers) + 1}"
        port = free_port()
        child = self.supervisor.spawn(
            name, "worker", "--data-dir", str(self.worker_dir(name)),
            env={"VTEX_BRIDGE_WORKER_WEB_PORT": str(port)},
        )  # fmt: skip
        self.workers.append(child)
        self.worker_ports[name] = port
        await self.wait_worker_ready(child)
        return child

    def worker_dir(self, name: str) -> Path:
        return self.work_dir / name

    async def wait_worker_ready(self, child: Child, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until the worker's /health lists partitions it owns (state loaded)."""
        url = f"http://127.0.0.1:{self.worker_ports[child.name]}/health"

        async def owns_partitions() -> bool:
            body = await self._get_json(url, child)
            return bool(body and body.get("partitions"))

        await wait_until(
            owns_partitions, timeout=timeout, interval=0.25, message=f"{child.name} owns partitions"
        )

    async def wait_http(self, child: Child, url: str, timeout: float = READY_TIMEOUT_S) -> None:
        async def answers() -> bool:
            return await self._get_json(url, child) is not None

        await wait_until(answers, timeout=timeout, interval=0.25, message=f"{child.name} answers {url}")

    async def _get_json(self, url: str, child: Child | None = None) -> Any:
        if child is not None and not child.running:
            tail = "\n".join(child.log_tail(30))
            raise AssertionError(f"{child.name} exited with {child.exit_code}:\n{tail}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
            async with self.session.get(url) as response:
                if response.status == 200:
                    return await response.json()
        return None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    # --- driving ---------------------------------------------------------------------------------
    @property
    def vtex(self) -> SimClient:
        """The simulator's HTTP API (workloads, knobs, counters)."""
        return SimClient(self.session, self.sim_url)

    async def start_workload(self, orders: int, *, rate_per_s: float = 100.0) -> Workload:
        """Start the scenario's seeded workload of `orders` orders."""
        return await self.vtex.start_workload(orders, seed=self.options.seed, rate_per_s=rate_per_s)

    async def wait_accepted(self, count: int, timeout: float = 90.0) -> None:
        """Wait until VTEX saw `count` deliveries accepted (a point "mid-stream" to inject at)."""

        async def reached() -> bool:
            return (await self.vtex.sender())["accepted"] >= count

        await wait_until(reached, timeout=timeout, interval=0.1, message=f"{count} hooks accepted")

    async def wait_sent(self, count: int, timeout: float = 90.0) -> None:
        """Wait until VTEX made `count` delivery attempts in total."""

        async def reached() -> bool:
            return (await self.vtex.sender())["sent"] >= count

        await wait_until(reached, timeout=timeout, interval=0.1, message=f"{count} hook attempts")

    async def wait_counter(self, *names: str, at_least: int, timeout: float = 90.0) -> None:
        """Wait until the simulator's counters `names` sum to `at_least` (e.g. OMS errors it served)."""

        async def reached() -> bool:
            return await self.vtex.counter(*names) >= at_least

        await wait_until(reached, timeout=timeout, interval=0.1, message=f"{'+'.join(names)} >= {at_least}")

    async def wait_feed_depth(self, count: int, timeout: float = 90.0) -> None:
        async def reached() -> bool:
            return await self.vtex.feed_backlog() >= count

        await wait_until(reached, timeout=timeout, interval=0.1, message=f"{count} feed messages")

    async def input_count(self) -> int:
        """Return the records on the input topic (every copy, from every source)."""
        return sum((await probes.end_offsets(self.bootstrap, self.input_topic)).values())

    async def wait_input_records(self, count: int, timeout: float = 90.0) -> None:
        """Wait until the input topic holds `count` records (the ingress or feed poller produced them)."""

        async def reached() -> bool:
            return await self.input_count() >= count

        await wait_until(reached, timeout=timeout, interval=0.2, message=f"{count} input records")

    # --- process faults --------------------------------------------------------------------------
    def kill(self, child: Child) -> None:
        """kill -9 a service."""
        self.down.add(child.name)
        child.kill()

    async def terminate(self, child: Child) -> None:
        """Stop a service cleanly (SIGTERM, wait)."""
        self.down.add(child.name)
        await asyncio.to_thread(child.stop)

    async def restart(self, child: Child) -> None:
        """Start a service again and wait until it is ready."""
        child.restart()
        self.down.discard(child.name)
        if child in self.workers:
            await self.wait_worker_ready(child)
        elif child is self.ingress:
            await self.wait_http(child, f"{self.ingress_url}/readyz")
        elif child is self.feed_poller:
            await self.wait_http(child, f"http://127.0.0.1:{self.feed_port}/healthz")

    @staticmethod
    async def hold(seconds: float) -> None:
        """Keep an injected fault in place for `seconds` (a fault's duration, not a wait for a condition)."""
        await asyncio.sleep(seconds)

    # --- broker faults ---------------------------------------------------------------------------
    def _broker(self) -> LocalKafka:
        assert self.broker is not None, "this scenario needs its own broker (own_kafka)"
        return self.broker

    async def broker_restart(self, *, kill: bool) -> None:
        """Stop (SIGTERM, clean) or kill -9 the broker, then start it again on the same ports and data."""
        broker = self._broker()
        await asyncio.to_thread(broker.kill if kill else broker.stop)
        await asyncio.to_thread(broker.start)

    def broker_signal(self, signum: int) -> None:
        broker = self._broker()
        assert broker.process is not None
        os.killpg(broker.process.pid, signum)

    # --- settling and checking -------------------------------------------------------------------
    async def settle(
        self, timeout: float = SETTLE_TIMEOUT_S, *, feed: bool = False, hook: bool = True
    ) -> None:
        """Wait until VTEX has nothing left to deliver (by hook, and by feed when `feed`) and the processor
        committed the input's end."""
        deadline = time.monotonic() + timeout

        async def vtex_idle() -> bool:
            self._assert_alive()
            for name in self.account_names:
                stats = await (self.vtex if self.options.accounts == 1 else self.vtex_of(name)).stats()
                sender = stats["sender"]
                idle = not (sender["pending"] or sender["held"] or sender["running"]) or not hook
                if feed:
                    idle = idle and not any(stats["feed_depth"].values())
                if not idle:
                    return False
            return True

        await wait_until(vtex_idle, timeout=timeout, interval=0.25, message="VTEX delivered everything")
        await wait_until(
            self.caught_up,
            timeout=max(5.0, deadline - time.monotonic()),
            interval=0.5,
            message="the processor committed the end of the input topic",
        )

    def _assert_alive(self) -> None:
        for child in self.supervisor.children:
            if child.process is not None and child.process.poll() is not None and child.name not in self.down:
                tail = "\n".join(child.log_tail(30))
                raise AssertionError(f"{child.name} died with {child.exit_code}:\n{tail}")

    async def caught_up(self) -> bool:
        """Tell whether the worker group committed the end of the input topic."""
        return await probes.caught_up(self.bootstrap, self.app_id, self.input_topic)

    async def check(self, scenario: str, *, feed: bool = False, **facts: Any) -> CheckResult:
        """Settle, then compare Kafka with the simulator's record; `facts` go into the JSON line."""
        await self.settle(feed=feed)
        result = await check_kafka(
            scenario,
            await self.expectation(feed_is_lossless=feed),
            bootstrap=self.bootstrap,
            input_topic=self.input_topic,
            status_prefix=self.status_prefix,
            dead_letter_topic=self.dead_letter_topic,
        )
        sender: dict[str, int] = {}
        for name in self.account_names:  # the hook sender's counts over every account
            counts = await (self.vtex if self.options.accounts == 1 else self.vtex_of(name)).sender()
            sender = {key: sender.get(key, 0) + value for key, value in counts.items()}
        result.facts = {
            **facts,
            **await self.worker_counters(),
            "hook_attempts": sender["sent"],
            "hook_retries": sender["retried"],
            "hook_duplicates": sender["duplicates"],
            "seconds": round(time.monotonic() - self.started_at, 1),
        }
        return result

    async def expectation(self, *, feed_is_lossless: bool = False) -> Expectation:
        """What the simulator delivered, over every account (their order ids differ)."""
        if self.options.accounts == 1:
            return await self.vtex.expectation(feed_is_lossless=feed_is_lossless)
        must: dict[str, Any] = {}
        may: dict[str, Any] = {}
        for name in self.account_names:
            each = await self.vtex_of(name).expectation(feed_is_lossless=feed_is_lossless)
            must.update(each.must)
            may.update(each.may)
        return Expectation(must=must, may={k: v for k, v in may.items() if k not in must})

    async def worker_counters(self) -> dict[str, dict[str, int]]:
        """Sum the running workers' event outcomes and retry causes (evidence of what a fault caused).

        A restarted worker counts from zero, so after a crash these cover the new process only: its
        `duplicate` count includes the input it re-read and recognised.
        """
        events: dict[str, int] = {}
        retries: dict[str, int] = {}
        for child in self.workers:
            if not child.running:
                continue
            text = await self._get_text(f"http://127.0.0.1:{self.worker_ports[child.name]}/metrics")
            for family, target in (
                ("vtex_bridge_processor_events", events),
                ("vtex_bridge_processor_retries", retries),
            ):
                for label, value in probes.counter_totals(text, family).items():
                    target[label] = target.get(label, 0) + value
        return {"worker_events": events, "worker_retries": retries}

    async def _get_text(self, url: str) -> str:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self.session.get(url) as response:
                if response.status == 200:
                    return await response.text()
        return ""

    # --- teardown --------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop every service (resuming stopped ones first) and close the HTTP session."""
        for child in self.supervisor.children:
            child.signal(signal.SIGCONT)
        if self.broker is not None and self.broker.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.broker.process.pid, signal.SIGCONT)
        await asyncio.to_thread(self.supervisor.stop_all)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wipe_worker_state(self, child: Child) -> None:
        """Delete a (stopped) worker's local state directory, as a lost disk or a new pod would."""
        assert not child.running
        shutil.rmtree(self.worker_dir(child.name), ignore_errors=True)


BridgeFactory = Callable[..., Awaitable[Bridge]]
