"""What `vtex-bridge dev` starts and where: ports, the services' environment, the demo accounts.

Computed before anything starts, from the settings alone, so the tests check a plan without starting
a service; a configured port that is taken is replaced by a free one (the demo must start anyway).
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from bridge import local_kafka
from bridge.settings import SIMULATOR_ACCOUNT, Settings


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

    @property
    def hook_url(self) -> str:
        """Where the ingress takes hooks (what the simulator's or VTEX's hook calls)."""
        return f"{self.ingress_url}{self.settings.ingress_path}"

    @property
    def ingress_metrics_url(self) -> str:
        """The ingress's /metrics, on the metrics port `make_plan` gave it."""
        return f"http://127.0.0.1:{self.env['VTEX_BRIDGE_INGRESS_METRICS_PORT']}/metrics"


def make_plan(settings: Settings, bootstrap: str, run_dir: Path, accounts: int = 1) -> Plan:
    """Return what this run starts: free ports near the configured ones, and each service's environment."""
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
        # /metrics of the ingress has its own port (not the hook port): see `Plan.ingress_metrics_url`.
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
        from bridge.cli.dev.accounts import demo_account_names, write_demo_accounts

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


def children_settings(plan: Plan) -> Settings:
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
