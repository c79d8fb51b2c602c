"""Fixtures of the chaos suite: a private bridge per scenario and the per-scenario JSON result lines.

`bridge_factory(broker=None, **BridgeOptions fields)` starts a `Bridge` on the session broker
(`kafka_bootstrap`), or on a private one the scenario may stop and kill (pass the `own_kafka` fixture);
every bridge is stopped at teardown. `chaos_report(result)` records a scenario's `CheckResult`; the
JSON lines are printed at the end of the run (always, not only on failure) and appended to
`$CHAOS_RESULTS` when that variable names a file.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.local_kafka import LocalKafka
from testkit.checker import CheckResult
from testkit.harness import Bridge, BridgeFactory, BridgeOptions

_RESULTS: list[str] = []


@pytest.fixture
async def bridge_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BridgeFactory]:
    bridges: list[Bridge] = []

    async def create(broker: LocalKafka | None = None, **options: Any) -> Bridge:
        # The session broker is only started when a scenario runs on it.
        bootstrap = broker.bootstrap if broker is not None else request.getfixturevalue("kafka_bootstrap")
        work_dir = tmp_path / f"bridge-{len(bridges) + 1}"
        bridge = await Bridge.create(bootstrap, work_dir, BridgeOptions(**options), broker)
        bridges.append(bridge)
        return bridge

    try:
        yield create
    finally:
        for bridge in bridges:
            await bridge.stop()


@pytest.fixture
def chaos_report() -> Callable[[CheckResult], None]:
    def report(result: CheckResult) -> None:
        line = result.to_json()
        print(line)
        _RESULTS.append(line)
        target = os.environ.get("CHAOS_RESULTS")
        if target:
            with Path(target).open("a") as handle:
                handle.write(line + "\n")

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RESULTS:
        terminalreporter.section("chaos results (one JSON line per scenario)")
        for line in _RESULTS:
            terminalreporter.write_line(line)
