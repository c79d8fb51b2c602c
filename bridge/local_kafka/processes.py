"""Stopping a JVM (or one of our services) and everything it started, without leaving orphans.

Every local broker and dev service runs as the leader of its own process group, so a stop signals the
whole group; `die_with_parent` (PR_SET_PDEATHSIG) makes the kernel stop a child whose starter was
killed, so even a killed test run leaves no JVM behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Final

STOP_TIMEOUT_S: Final = 30.0
#: How long a process that did not stop gets to write its stacks before SIGKILL (it takes milliseconds).
DUMP_GRACE_S: Final = 2.0
_PR_SET_PDEATHSIG: Final = 1


def die_with_parent() -> None:
    """Child-side hook: ask the kernel to SIGTERM the JVM when the process that started it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def process_alive(pid: int) -> bool:
    """Tell whether `pid` still runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def stop_process_group(pid: int, timeout: float = STOP_TIMEOUT_S, *, dump_signal: int | None = None) -> None:
    """SIGTERM the group led by `pid`, then SIGKILL it if it is still there after `timeout`.

    With `dump_signal`, a leader that did not stop first gets that signal and a moment to write its
    stacks (our services: `bridge.stack_dumps`), so a hang in the stop path leaves more than a log
    that ends.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout) and dump_signal is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, dump_signal)
        _wait_gone(pid, DUMP_GRACE_S)
    if process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Reap `pid` if it is our child; return whether it exited within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    return not process_alive(pid)
