"""Cancelling a task for good, and running work within a bound that holds.

One `cancel()` is not always enough: Python 3.11's `asyncio.wait_for` (and `asyncio.timeout`) can
swallow a cancellation that arrives as its inner call completes, and a Kafka client call that does so
lets the work go on. Seen three times: a worker's commit loop kept retrying against a downed broker and
held the worker's stop until the stop watchdog killed it; a reshard ran past its bound into a drain no
worker served and never ended; the console's owner directory held a worker's stop the same way. The
stop paths that cancel a task repeat the cancellation until the task has ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, Final, TypeVar

T = TypeVar("T")

#: How long a cancelled task may take to end before it is cancelled again.
CANCEL_AGAIN_S: Final = 5.0


class Expired(Exception):
    """`run_within`'s bound passed (the work was cancelled)."""


async def cancel_until_done(task: asyncio.Task[Any], every_s: float = 1.0) -> None:
    """Cancel `task` and wait for it to end, cancelling again every `every_s` while it goes on."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every_s)
    if not task.cancelled():
        task.exception()  # retrieved: the task's own failure was reported where it happened


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], every_s: float = 1.0) -> None:
    """`cancel_until_done` for each of `tasks`, side by side."""
    await asyncio.gather(*(cancel_until_done(task, every_s) for task in tasks))


async def run_within(work: Coroutine[Any, Any, T], bound: float, cancel_again_s: float = CANCEL_AGAIN_S) -> T:
    """Return what `work` returns, or raise `Expired` once `bound` seconds passed (work cancelled).

    Cancelling the caller (Ctrl-C) cancels the work too. Work that finishes while it is being cancelled
    still returns its result.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=bound)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    await cancel_until_done(task, cancel_again_s)
    if not task.cancelled() and task.exception() is None:
        return task.result()  # it finished just then
    raise Expired
