"""`make bench`: run every benchmark in turn and print their final JSON lines together at the end.

Each benchmark is its own process (its own broker, services and measurements), prints human-readable
progress and ends with one JSON line holding its figures, the baselines measured in the same run and
their ratios. This runner only sequences them and collects those lines; it fails if one fails.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Final

import orjson

BENCHMARKS: Final[tuple[str, ...]] = (
    "bench.ingress",
    "bench.processor",
    "bench.state",
    "bench.store_memory",
    "bench.e2e",
    "bench.scale",
)
#: Bound of one benchmark run, start-up of its broker included.
BENCH_TIMEOUT_S: Final = 1200.0


def run_one(module: str) -> tuple[int, dict[str, object] | None]:
    """Run `python -m module`, echo its output, return its exit code and final JSON line."""
    print(f"\n=== {module} ===", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", module], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    last_json: dict[str, object] | None = None
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith("{"):
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict):
                last_json = value
        if time.monotonic() - started > BENCH_TIMEOUT_S:
            process.kill()
            print(f"# {module}: stopped after {BENCH_TIMEOUT_S:.0f}s", flush=True)
            break
    return process.wait(), last_json


def main() -> int:
    failures = []
    results: dict[str, dict[str, object] | None] = {}
    for module in BENCHMARKS:
        code, result = run_one(module)
        results[module] = result
        if code != 0 or result is None:
            failures.append(module)
    print("\n=== summary (one JSON line per benchmark) ===")
    for module, result in results.items():
        print(orjson.dumps({"benchmark": module, **(result or {"error": "no result"})}).decode())
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
