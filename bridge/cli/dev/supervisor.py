"""Start the bridge's services as child processes, watch them and stop them all on the way out.

Each service runs as its own `vtex-bridge <command>` process, exactly as in production, so the demo
exercises the real entry points. Children get their own process group (so one Ctrl-C in the terminal
reaches only us, and we stop them in order) and die with us if we are killed (PR_SET_PDEATHSIG). One
that does not stop on SIGTERM writes its stacks to its log (SIGUSR1) before it is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from bridge import stack_dumps
from bridge.local_kafka import die_with_parent, stop_process_group

STOP_TIMEOUT_S: Final = 20.0


@dataclass
class Child:
    """One supervised service."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    #: Working directory (created on start); None: ours.
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        if self.cwd is not None:
            self.cwd.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point, no shell
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid, timeout, dump_signal=stack_dumps.DUMP_SIGNAL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
        if self._log is not None:
            self._log.close()
            self._log = None

    def signal(self, signum: int) -> None:
        """Send `signum` to the child's process group (fault injection: SIGSTOP, SIGCONT, SIGKILL)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the child at once, as a crash would, and reap it."""
        if self.process is not None:
            self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Start the same command again after `stop()` or `kill()` (its log is appended to)."""
        if self.running:
            raise RuntimeError(f"{self.name} is still running")
        self.start()

    def log_tail(self, lines: int = 8) -> list[str]:
        if not self.log_path.exists():
            return []
        return self.log_path.read_text(errors="replace").splitlines()[-lines:]


@dataclass
class Supervisor:
    """Children started in order and stopped in reverse order."""

    log_dir: Path
    base_env: dict[str, str]
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Child:
        """Start `vtex-bridge ARGS...` as service `name` with extra environment `env`."""
        child = Child(
            name=name,
            argv=[sys.executable, "-m", "bridge.cli", *args],
            env={**self.base_env, **(env or {})},
            log_path=self.log_dir / f"{name}.log",
        )
        child.start()
        self.children.append(child)
        return child

    def failed(self) -> list[Child]:
        return [c for c in self.children if not c.running]

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()


def inherited_environment() -> dict[str, str]:
    """Return the environment children inherit: ours, so the user's settings reach every service."""
    return dict(os.environ)
