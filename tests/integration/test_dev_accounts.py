"""`vtex-bridge dev --accounts 2` against a running broker: one simulator serving two accounts, both hooks
registered at the ingress with their own secrets, both feeds polled, both accounts' events enriched
and emitted by the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from bridge.local_kafka import free_port
from testkit.kafka import unique

pytestmark = pytest.mark.integration

DEADLINE_S = 150.0
ACCOUNTS = ("simaccount", "simaccount-2")


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return None


def _emitted(metrics: str, account: str) -> float:
    """The worker's emitted events of `account`, from its /metrics text."""
    prefix = f'vtex_bridge_processor_account_events_total{{account="{account}",outcome="emitted"}} '
    return sum(float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix))


class TestDevAccounts:
    """Each simulated account's hook reaches the ingress and its feed the poller."""

    def test_two_accounts(self, kafka_bootstrap: str, tmp_path: Path) -> None:
        name = unique("dev-accounts")
        sim_port, feed_port, worker_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "KAFKA_BOOTSTRAP"))}
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
            VTEX_BRIDGE_KAFKA_LOCAL_DIR=str(tmp_path / "cache"),
            VTEX_BRIDGE_INPUT_TOPIC=f"{name}.in",
            VTEX_BRIDGE_STATUS_TOPIC_PREFIX=f"{name}.st.",
            VTEX_BRIDGE_DEAD_LETTER_TOPIC=f"{name}.dlq",
            VTEX_BRIDGE_WORKER_APP_ID=name,
            VTEX_BRIDGE_INGRESS_PORT=str(free_port()),
            VTEX_BRIDGE_INGRESS_METRICS_PORT=str(free_port()),
            VTEX_BRIDGE_SIM_PORT=str(sim_port),
            VTEX_BRIDGE_FEED_POLL_HTTP_PORT=str(feed_port),
            VTEX_BRIDGE_WORKER_WEB_PORT=str(worker_port),
            VTEX_BRIDGE_CONSOLE_PORT=str(free_port()),
            VTEX_BRIDGE_DEV_RATE_PER_S="20",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "dev", "--accounts", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.extend(line.rstrip("\n") for line in process.stdout or ()), daemon=True
        )
        reader.start()
        accepted: dict[str, int] = {}
        produced = emitted = ""
        try:
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline and process.poll() is None:
                for account in ACCOUNTS:
                    stats = _get(f"http://127.0.0.1:{sim_port}/accounts/{account}/_sim/stats")
                    if stats is not None:
                        accepted[account] = int(orjson.loads(stats)["sender"]["accepted"])
                produced = _get(f"http://127.0.0.1:{feed_port}/metrics") or ""
                fed = all(
                    f'records_produced_total{{account="{a}"}} ' in produced
                    and f'records_produced_total{{account="{a}"}} 0.0' not in produced
                    for a in ACCOUNTS
                )
                emitted = _get(f"http://127.0.0.1:{worker_port}/metrics") or ""
                enriched = all(_emitted(emitted, a) > 0 for a in ACCOUNTS)
                if fed and enriched and len(accepted) == 2 and min(accepted.values()) > 0:
                    break
                time.sleep(1)
        finally:
            os.killpg(process.pid, signal.SIGINT)
            code = process.wait(timeout=90)
            reader.join(timeout=10)
        output = "\n".join(lines)
        assert 0 == code, output[-3000:]
        assert 2 == len(accepted) and min(accepted.values()) > 0, (accepted, output[-3000:])
        for account in ACCOUNTS:
            assert f'records_produced_total{{account="{account}"}}' in produced, produced
            assert _emitted(emitted, account) > 0, emitted
        assert "Accounts   simaccount, simaccount-2" in output
        registry = orjson.loads((tmp_path / "cache" / "dev" / "accounts.json").read_bytes())
        assert ["simaccount-2"] == [entry["account"] for entry in registry]
