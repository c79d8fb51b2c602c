"""What grows in the soak's worker: Python allocations traced in the worker, compared across the run.

`make soak` reports whether the worker's RSS grows after its RocksDB budget is full; this tells where.
With `--trace-worker-memory` the worker starts with tracemalloc (through a `sitecustomize` module put
first on its PYTHONPATH, so the product has no hook for it) and dumps a snapshot every
`TRACE_EVERY_S`; at the end the snapshot after the warm-up is compared with the last one and the
allocation sites that grew most are reported. tracemalloc sees Python's allocations only: RSS growth
that does not show here is native (RocksDB, the C allocator's arenas). Tracing costs CPU (the
CPU-per-event figures of such a run are not comparable) and each snapshot stops the worker a moment.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any, Final

TRACE_EVERY_S: Final = 120.0
TRACE_FRAMES: Final = 8
TOP: Final = 15

SITECUSTOMIZE: Final = '''\
"""Soak diagnostics (bench.soak_trace): trace Python allocations, dump a snapshot periodically."""
import os

if os.environ.get("SOAK_TRACE_DIR"):
    import threading
    import time
    import tracemalloc

    tracemalloc.start(int(os.environ.get("SOAK_TRACE_FRAMES", "8")))

    def _dump() -> None:
        directory = os.environ["SOAK_TRACE_DIR"]
        every = float(os.environ.get("SOAK_TRACE_EVERY_S", "120"))
        while True:
            time.sleep(every)
            snapshot = tracemalloc.take_snapshot()
            path = os.path.join(directory, f"{time.time():.0f}.snap")
            snapshot.dump(path + ".tmp")
            os.replace(path + ".tmp", path)

    threading.Thread(target=_dump, name="soak-trace", daemon=True).start()
'''


def trace_env(work_dir: Path) -> dict[str, str]:
    """Environment for the worker that turns tracing on; snapshots go to `work_dir`/snapshots."""
    site = work_dir / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = snapshot_dir(work_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {
        "PYTHONPATH": os.pathsep.join(path),
        "SOAK_TRACE_DIR": str(out),
        "SOAK_TRACE_EVERY_S": str(TRACE_EVERY_S),
        "SOAK_TRACE_FRAMES": str(TRACE_FRAMES),
    }


def snapshot_dir(work_dir: Path) -> Path:
    return work_dir / "snapshots"


def growth(work_dir: Path, since_wall: float, top: int = TOP) -> dict[str, Any] | None:
    """Compare the first snapshot taken at or after `since_wall` (epoch seconds) with the last.

    Returns the traced total at both ends and the `top` allocation sites (grouped by traceback, shown
    by their innermost frames) by growth; None with fewer than two snapshots after `since_wall`."""
    snaps = sorted(snapshot_dir(work_dir).glob("*.snap"), key=lambda p: float(p.stem))
    after = [p for p in snaps if float(p.stem) >= since_wall]
    if len(after) < 2:
        return None
    first, last = tracemalloc.Snapshot.load(str(after[0])), tracemalloc.Snapshot.load(str(after[-1]))
    minutes = (float(after[-1].stem) - float(after[0].stem)) / 60
    stats = last.compare_to(first, "traceback")
    mb = 1024 * 1024

    def total(snapshot: tracemalloc.Snapshot) -> float:
        return round(sum(s.size for s in snapshot.statistics("filename")) / mb, 1)

    return {
        "minutes": round(minutes, 1),
        "traced_mb_first": total(first),
        "traced_mb_last": total(last),
        "top": [
            {
                "growth_kb": round(s.size_diff / 1024, 1),
                "count_diff": s.count_diff,
                # Innermost frame first (a traceback runs from the oldest frame to the newest).
                "where": [
                    f"{f.filename.rsplit('/site-packages/', 1)[-1]}:{f.lineno}" for f in s.traceback[::-1][:4]
                ],
            }
            for s in stats[:top]
        ],
    }
