"""Process-wide runtime choices of the long-running services (worker, ingress, feed poller, simulator).

Two knobs that cost nothing in code but a lot in CPU per event (docs/performance.md): the event loop
implementation and the cyclic garbage collector's thresholds; and `kill -USR1` writing the process's
thread and task stacks (`bridge.stack_dumps`). They are process-wide, so only the commands that own a
process apply them; tests and libraries building apps in a shared process do not.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bridge import stack_dumps
from bridge.settings import ProcessSettings, Settings

T = TypeVar("T")


def loop_factory(settings: ProcessSettings) -> Callable[[], asyncio.AbstractEventLoop]:
    """Return what creates the services' event loop (uvloop unless settings ask for asyncio's)."""
    if settings.event_loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def install(settings: ProcessSettings) -> None:
    """Apply the settings to this process: GC thresholds, the loop policy for threads' own loops, and
    the stack dumps on SIGUSR1.

    Faust runs its consumer in a thread with a loop of its own, created from the policy: setting the
    policy makes that loop uvloop too.
    """
    gc.set_threshold(*settings.gc_thresholds)
    stack_dumps.install()
    if settings.event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def new_event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """`install` the settings and return a new loop set as the current one (for Faust's worker)."""
    install(settings)
    loop = loop_factory(settings)()
    asyncio.set_event_loop(loop)
    return loop


def run(settings: Settings, main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the configured loop, with the settings installed."""
    install(settings)
    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
        return runner.run(main)
