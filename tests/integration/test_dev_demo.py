"""`make run` (i.e. `vtex-bridge dev`) brings the whole bridge up, shows events flowing and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge import local_kafka
from testkit.kafka import KAFKA_VERSION

pytestmark = pytest.mark.integration

DEMO_DEADLINE_S = 180.0
STATUS_LINE = re.compile(r"^\s+vtex\.orders\.status\.(?P<route>[\w.-]+)\s+(?P<count>[\d,]+)$")
EMITTED_LINE = re.compile(r"^Processor  enriched\+emitted (?P<count>[\d,]+) ")
SCREEN_START = "vtex-kafka-bridge — live"


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _screens_where_topics_match_emitted(lines: list[str]) -> tuple[int, int]:
    """Return (screens, screens whose status-topic records add up to the events emitted on them).

    Both come from one scrape of the worker; Kafka offsets would count each commit marker too.
    """
    screens = matching = 0
    emitted: int | None = None
    records = 0
    for line in [*lines, SCREEN_START]:
        if SCREEN_START in line:
            if emitted is not None and records:
                screens += 1
                matching += records == emitted
            emitted, records = None, 0
        elif match := EMITTED_LINE.match(line):
            emitted = _count(match["count"])
        elif match := STATUS_LINE.match(line):
            records += _count(match["count"])
    return screens, matching


def _free_ports_env(tmp_path: Path) -> dict[str, str]:
    cache = tmp_path / "cache"
    libs = local_kafka.ensure_distribution(KAFKA_VERSION)
    (cache / f"kafka-{KAFKA_VERSION}").mkdir(parents=True)
    (cache / f"kafka-{KAFKA_VERSION}" / "libs").symlink_to(libs)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "KAFKA_BOOTSTRAP"))}
    env.update(
        VTEX_BRIDGE_KAFKA_LOCAL_DIR=str(cache),
        VTEX_BRIDGE_KAFKA_LOCAL_PORT=str(local_kafka.free_port()),
        VTEX_BRIDGE_INGRESS_PORT=str(local_kafka.free_port()),
        VTEX_BRIDGE_SIM_PORT=str(local_kafka.free_port()),
        VTEX_BRIDGE_WORKER_WEB_PORT=str(local_kafka.free_port()),
        VTEX_BRIDGE_WORKER_APP_ID=f"dev-demo-{os.getpid()}",
        VTEX_BRIDGE_DEV_RATE_PER_S="50",
    )
    return env


class TestDevDemo:
    """The demo on the embedded default: local Kafka, simulator, worker, ingress, live view."""

    def test_events_reach_status_topics_then_ctrl_c_stops_all(self, tmp_path: Path) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "dev"],
            env=_free_ports_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        seen = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                match = STATUS_LINE.match(line.rstrip("\n"))
                if match and int(match["count"].replace(",", "")) > 0:
                    seen.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert seen.wait(DEMO_DEADLINE_S), "no status topic got records:\n" + "\n".join(lines[-60:])
        finally:
            os.killpg(process.pid, signal.SIGINT)
            code = process.wait(timeout=90)
            reader.join(timeout=10)
        output = "\n".join(lines)
        assert 0 == code, output[-3000:]
        assert "Hooks      accepted" in output
        screens, matching = _screens_where_topics_match_emitted(lines)
        assert screens > 0 and matching == screens, output[-3000:]
        assert "Stopping the local Kafka broker" in output
        leftovers = subprocess.run(
            ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
        ).stdout.split()
        deadline = time.monotonic() + 10
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.2)
            leftovers = subprocess.run(
                ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
            ).stdout.split()
        assert [] == leftovers
