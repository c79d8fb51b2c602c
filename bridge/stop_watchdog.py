"""A bound on a graceful stop: past it, the process writes where it is stuck and exits anyway.

A worker's clean stop waits on Kafka more than once (lanes drain, transactions end, the consumer
leaves its group), and after a broker outage the client libraries can wait on one request for as long
as their request timeout (Faust's is 90 s) or, in a bug, for good (faust #175, #523). A supervisor
then either waits with it or SIGKILLs it without a word on why. Exiting at the bound loses nothing:
the worker commits an input offset only after the transaction holding its event's records and de-dup
state committed, so whatever the stop did not finish is read again by the next owner, de-duplicated.

The watchdog is a thread, not a task: the event loop may be the thing that is stuck.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Final, NoReturn, TextIO

from bridge import stack_dumps

log = logging.getLogger(__name__)

#: The exit code of a stop cut short by the watchdog (0 is a clean stop, 1 an error at startup).
STOP_TIMEOUT_EXIT_CODE: Final = 3


class StopWatchdog:
    """Armed when a stop begins; unless disarmed within `timeout_s`, dumps the stacks and exits."""

    def __init__(
        self,
        timeout_s: float,
        *,
        before_exit: Callable[[], object] | None = None,
        out: TextIO | None = None,
        exit_process: Callable[[int], NoReturn] = os._exit,
    ) -> None:
        self.timeout_s = timeout_s
        self._before_exit = before_exit
        self._out = out
        self._exit = exit_process
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def arm(self) -> None:
        """Start counting (once: a second SIGTERM during the stop does not push the bound back)."""
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self.timeout_s, self._expire)
            self._timer.name = "stop-watchdog"
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _expire(self) -> None:
        try:
            self._report()
            if self._before_exit is not None:
                self._before_exit()
        finally:  # whatever failed above, the process must not outlive its bound
            self._exit(STOP_TIMEOUT_EXIT_CODE)

    def _report(self) -> None:
        out = self._out if self._out is not None else sys.stderr
        log.error(
            "graceful stop did not finish in time; exiting now (unfinished input stays uncommitted "
            "and is processed again by the partition's next owner)",
            extra={"stop_timeout_s": self.timeout_s, "exit_code": STOP_TIMEOUT_EXIT_CODE},
        )
        try:
            out.flush()
            faulthandler.dump_traceback(file=out, all_threads=True)
            stack_dumps.dump_tasks(out)
        except Exception as exc:  # no usable file behind `out`, or a task that cannot be read
            log.warning("could not write the stacks", extra={"error": repr(exc)})
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(OSError, ValueError):  # a handler whose stream is gone
                handler.flush()
