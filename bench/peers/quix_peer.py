"""The Quix Streams processor peer (bench/peers/quix/processor.py) as a benchmark process.

Quix Streams 3.28.1 needs pydantic and pydantic-settings older than the bridge's pins, so it lives in a
virtualenv of its own, `.venv-peers` at the repository's root, created on first use from
bench/peers/quix/requirements.txt with every version pinned by bench/peers/quix/constraints.txt (and
re-created when they change). `QuixProcessor` starts the peer against a topic pair and an OMS, and
stops it with SIGTERM.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

from bench.common import process_cpu_seconds
from bench.peers import terminate

HERE: Final = Path(__file__).resolve().parent / "quix"
ROOT: Final = Path(__file__).resolve().parents[2]
VENV: Final = ROOT / ".venv-peers"
STOP_TIMEOUT_S: Final = 30.0
INSTALL_TIMEOUT_S: Final = 900


class PeerUnavailable(RuntimeError):
    """The peer's virtualenv could not be created (no network to PyPI, for instance)."""


def peer_python() -> Path:
    """Return the peers' virtualenv's Python, creating or refreshing the virtualenv when needed."""
    digest = hashlib.sha256(
        (HERE / "requirements.txt").read_bytes() + (HERE / "constraints.txt").read_bytes()
    ).hexdigest()[:16]
    python, stamp = VENV / "bin" / "python", VENV / f".installed-{digest}"
    if stamp.exists():
        return python
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(HERE / "constraints.txt"),
         "-r", str(HERE / "requirements.txt")],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)  # noqa: S603
        if done.returncode != 0:
            raise PeerUnavailable(f"{' '.join(step[:4])}… failed: {done.stderr[-1500:]}")
    stamp.touch()
    return python


class QuixProcessor:
    """The Quix Streams peer in a child process, consuming `input_topic` into `output_topic`."""

    def __init__(
        self, *, bootstrap: str, input_topic: str, output_topic: str, group: str, oms_url: str,
        oms_app_key: str, oms_app_token: str, work: Path, commit_interval_s: float = 0.1,
    ) -> None:  # fmt: skip
        work.mkdir(parents=True, exist_ok=True)
        self._env = {
            **os.environ,
            "PEER_BOOTSTRAP": bootstrap,
            "PEER_INPUT": input_topic,
            "PEER_OUTPUT": output_topic,
            "PEER_GROUP": group,
            "PEER_OMS_URL": oms_url,
            "PEER_OMS_APP_KEY": oms_app_key,
            "PEER_OMS_APP_TOKEN": oms_app_token,
            "PEER_STATE_DIR": str(work / "state"),
            "PEER_COMMIT_INTERVAL": str(commit_interval_s),
        }
        self._log_path = work / "quix.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> QuixProcessor:
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own peer script
                [str(peer_python()), str(HERE / "processor.py")],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        terminate(self._process, STOP_TIMEOUT_S)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
