"""`kill -USR1 <pid>` makes a service write where it is: every thread's stack and every asyncio task's.

A service that does not stop on SIGTERM, or stops making progress, is otherwise a black box: its log
ends and nothing says what it waits for. This is the SRE's jstack (docs/operations.md), and what the
test helpers send before they SIGKILL a service that did not stop, so a rare hang leaves its stacks.

Two handlers on the one signal. faulthandler writes the threads' stacks from the signal handler itself,
so they come even when the interpreter is stuck in C code. In an asyncio service those stacks mostly
show the event loop waiting; where the work waits is in the tasks' await chains, which a Python-level
handler writes as soon as the main thread runs Python again (at once, in an idle event loop). The
Faust worker's own SIGUSR1 handler (mode's, installed over ours, which also prints every frame's local
variables: settings, tokens) writes the tasks instead, with faulthandler put back in front of it
(bridge/cli/commands/worker.py).
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any, Final, TextIO

DUMP_SIGNAL: Final = signal.SIGUSR1
#: The last line of a dump: what a reader waits for.
END_OF_DUMP: Final = "--- end of asyncio tasks ---"
#: Await chains deeper than this are cut (a cycle would otherwise never end).
MAX_CHAIN: Final = 200


def install() -> None:
    """Make DUMP_SIGNAL write this process's thread and task stacks to stderr (main thread only)."""
    signal.signal(DUMP_SIGNAL, _on_signal)
    put_thread_dump_first()


def put_thread_dump_first() -> None:
    """(Re)install faulthandler's C handler in front of whatever handles DUMP_SIGNAL now.

    An event loop's `add_signal_handler` for the signal (mode's worker does that) replaces it; called
    after that, the threads are written at once again, even when the interpreter is stuck, and the
    loop's handler still runs after it (chain).
    """
    faulthandler.unregister(DUMP_SIGNAL)
    faulthandler.register(DUMP_SIGNAL, all_threads=True, chain=True)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    dump_tasks(sys.stderr)


def dump_tasks(out: TextIO) -> None:
    """Write the await chain of every pending task of every event loop in this process to `out`.

    Built first and written at once: a second signal during a dump runs this again in the same thread
    (Python handlers run between bytecodes), so it must neither interleave nor wait on a lock.
    """
    lines = [f"--- asyncio tasks of pid {os.getpid()} at {time.strftime('%H:%M:%S')} ---"]
    for loop in _event_loops():
        try:
            tasks = asyncio.all_tasks(loop)
        except RuntimeError:  # the loop's task set changed under us (another thread's loop)
            tasks = set()
        state = "closed" if loop.is_closed() else ("running" if loop.is_running() else "idle")
        lines.append(f"loop {type(loop).__name__} 0x{id(loop):x} ({state}): {len(tasks)} task(s)")
        for task in sorted(tasks, key=lambda t: t.get_name()):
            lines.append(f"  task {task.get_name()!r}:")
            waits_on = getattr(task, "_fut_waiter", None)  # what the innermost await is parked on
            lines.extend(f"    {entry}" for entry in _await_chain(task.get_coro(), waits_on))
    lines.append(END_OF_DUMP)
    out.write("\n".join(lines) + "\n")
    out.flush()


def _event_loops() -> list[asyncio.AbstractEventLoop]:
    """Every event loop alive in the process: the services' own and those libraries run in threads
    (Faust's consumer thread has one). Found through the GC, which is slow but runs only on demand."""
    return [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]


def _await_chain(awaitable: Any, waits_on: Any) -> Iterator[str]:
    """Yield `file:line in function` for each coroutine a task awaits, outermost first, then what the
    innermost one waits on (a task's own stack shows only its outermost frame)."""
    if awaitable is None:
        return
    for _ in range(MAX_CHAIN):
        frame = _frame_of(awaitable)
        if frame is None:
            yield f"waits on {_describe(waits_on if waits_on is not None else awaitable)}"
            return
        yield f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        awaitable = _inner(awaitable)
        if awaitable is None:  # running, or awaiting nothing we can see
            return


def _frame_of(awaitable: Any) -> FrameType | None:
    for attribute in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(awaitable, attribute, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _inner(awaitable: Any) -> Any:
    """Return what `awaitable` (a coroutine, generator or async generator) awaits now, if anything."""
    for attribute in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(awaitable, attribute, None)
        if inner is not None:
            return inner
    return None


def _describe(awaitable: Any) -> str:
    text = repr(awaitable)
    return text if len(text) <= 300 else text[:297] + "..."
