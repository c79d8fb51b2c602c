"""The Go + franz-go ingress peer (bench/peers/go-ingress) as a benchmark server process.

`GoIngressPeer` builds the peer when needed (bench.gobuild), starts it on loopback with the same topic,
account, appKey, secret header and linger as the bridge's ingress in the same benchmark, and stops it
with SIGTERM. Without Go the peer is unavailable and the benchmark says so instead of failing.
"""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path
from typing import Final

from bench.common import process_cpu_seconds
from bench.gobuild import go_build
from bench.peers import terminate

SOURCE: Final = Path(__file__).resolve().parent / "go-ingress"
START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 15.0


class GoIngressPeer:
    """The peer in a child process; `port` once started."""

    def __init__(
        self, *, bootstrap: str, topic: str, account: str, app_key: str, header: str, secret: str, path: str,
        linger_ms: int,
    ) -> None:  # fmt: skip
        self._env = {
            **os.environ,
            "PEER_BOOTSTRAP": bootstrap,
            "PEER_TOPIC": topic,
            "PEER_ACCOUNT": account,
            "PEER_APP_KEY": app_key,
            "PEER_HEADER": header,
            "PEER_SECRET": secret,
            "PEER_PATH": path,
            "PEER_LINGER_MS": str(linger_ms),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> GoIngressPeer:
        binary = go_build(SOURCE, "go-ingress")
        self._process = subprocess.Popen(  # noqa: S603 - our own peer binary
            [str(binary)], env=self._env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT_S)
        line = self._process.stdout.readline().decode() if ready else ""
        if not line.startswith("listening "):
            self._stop()
            raise RuntimeError(f"the Go peer did not start in time (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    async def produce_latency_buckets(self) -> dict[float, float]:
        """The peer exports no metrics: no produce-latency histogram."""
        return {}

    def cpu_seconds(self) -> float:
        assert self._process is not None
        return process_cpu_seconds(self._process.pid)

    def _stop(self) -> None:
        terminate(self._process, STOP_TIMEOUT_S)
