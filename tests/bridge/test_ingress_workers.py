"""How many ingress processes run by default, and the port the parent holds for them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bridge.cli import build_parser
from bridge.cli.dev.plan import make_plan
from bridge.ingress import workers
from bridge.settings import load_settings


class TestWorkerCount:
    def test_setting_wins(self) -> None:
        assert 3 == workers.worker_count(load_settings(ingress_workers=3, profile="dev"))

    def test_dev_profile_runs_one(self) -> None:
        assert 1 == workers.worker_count(load_settings(profile="dev"))

    def test_production_uses_the_cpus_available(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(workers, "available_cpus", lambda: 6)
        assert 6 == workers.worker_count(load_settings(profile="production"))

    def test_environment_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_INGRESS_WORKERS", "2")
        assert 2 == load_settings().ingress_workers

    def test_out_of_range_is_refused(self) -> None:
        with pytest.raises(ValueError, match="ingress_workers"):
            load_settings(ingress_workers=0)

    def test_dev_command_runs_one_ingress_process(self, tmp_path: Path) -> None:
        """`vtex-bridge dev` against a real account runs in the production profile: still one process."""
        plan = make_plan(load_settings(), "127.0.0.1:1", tmp_path)
        assert "1" == plan.env["VTEX_BRIDGE_INGRESS_WORKERS"]


class TestAvailableCpus:
    def test_capped_by_the_cgroup_quota(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A pod limited to 1.5 CPUs on a larger node gets 2 workers, not one per node CPU."""
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
        cpu_max = tmp_path / "cpu.max"
        cpu_max.write_text("150000 100000\n")
        assert 2 == workers.available_cpus(cpu_max)
        cpu_max.write_text("max 100000\n")
        assert 16 == workers.available_cpus(cpu_max)
        assert 16 == workers.available_cpus(tmp_path / "absent")


class TestCommandLine:
    def test_workers_option(self) -> None:
        assert 4 == build_parser().parse_args(["ingress", "--workers", "4"]).workers

    def test_workers_out_of_range(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["ingress", "--workers", "0"])
        assert "must be between 1 and 64" in capsys.readouterr().err


class TestReservePort:
    def test_workers_can_listen_beside_it_and_others_cannot_take_it(self) -> None:
        holder = workers.reserve_port("127.0.0.1", 0)
        try:
            port = holder.getsockname()[1]
            worker = socket.socket()
            worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            worker.bind(("127.0.0.1", port))
            worker.listen()
            worker.close()
            stranger = socket.socket()
            with pytest.raises(OSError):
                stranger.bind(("127.0.0.1", port))
            stranger.close()
        finally:
            holder.close()
