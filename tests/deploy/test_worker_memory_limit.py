"""The worker pod's memory limit matches the RocksDB budget it configures (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bridge.settings import load_settings
from processors.state import is_rocks

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
#: What the sizing rule allows the worker process besides RocksDB's budget, in MiB.
PROCESS_ALLOWANCE_MIB = 768


def _mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


def _worker() -> dict[str, Any]:
    docs = yaml.safe_load_all((K8S / "base" / "worker.yaml").read_text())
    worker = next(d for d in docs if d and d["kind"] == "StatefulSet")
    container: dict[str, Any] = worker["spec"]["template"]["spec"]["containers"][0]
    return container


def test_worker_runs_rocksdb_with_a_limit_of_budget_plus_process() -> None:
    config = yaml.safe_load((K8S / "base" / "configmap.yaml").read_text())["data"]
    assert is_rocks(config["VTEX_BRIDGE_WORKER_STORE"])
    container = _worker()
    env = {e["name"]: e.get("value") for e in container["env"]}
    budget = int(env.get("VTEX_BRIDGE_WORKER_ROCKSDB_MEMORY_MB") or load_settings().worker_rocksdb_memory_mb)
    limit = _mebibytes(container["resources"]["limits"]["memory"])
    assert limit == budget + PROCESS_ALLOWANCE_MIB
    assert _mebibytes(container["resources"]["requests"]["memory"]) <= limit
