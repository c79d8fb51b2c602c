"""The soak's worker-memory diagnostic: snapshots dumped by the injected sitecustomize, compared."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

from bench import soak_trace


def test_a_traced_process_dumps_snapshots(tmp_path: Path) -> None:
    env = {**soak_trace.trace_env(tmp_path), "SOAK_TRACE_EVERY_S": "0.1"}
    code = (
        "import pathlib, time\n"
        "d = pathlib.Path(__import__('os').environ['SOAK_TRACE_DIR'])\n"
        "deadline = time.monotonic() + 30\n"
        "while not list(d.glob('*.snap')) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    snaps = list(soak_trace.snapshot_dir(tmp_path).glob("*.snap"))
    assert snaps
    assert tracemalloc.Snapshot.load(str(snaps[0])).traces is not None


def test_growth_names_what_grew(tmp_path: Path) -> None:
    out = soak_trace.snapshot_dir(tmp_path)
    out.mkdir()
    tracemalloc.start(4)
    try:
        tracemalloc.take_snapshot().dump(str(out / "1000.snap"))
        kept = [bytes(1000) + bytes([i % 256]) for i in range(2000)]  # about 2 MB
        tracemalloc.take_snapshot().dump(str(out / "1300.snap"))
    finally:
        tracemalloc.stop()
    assert soak_trace.growth(tmp_path, since_wall=1200.0) is None  # one snapshot after it
    report = soak_trace.growth(tmp_path, since_wall=900.0)
    assert report is not None
    assert 5.0 == report["minutes"]
    top = report["top"][0]
    assert top["growth_kb"] > 1900
    assert top["where"][0].startswith(f"{__file__}:")
    assert len(kept) == 2000
