"""What the pipeline's observers read of one unit of work (`processors.work.Work`).

The timeline, tracing, outcome metrics and the pending-events report only need where an input record
came from and its parsed event; this protocol says so once, so they do not import the pipeline (which
imports them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bridge.events import InputEvent


class WorkView(Protocol):
    """An input record in the worker: its partition and offset, its headers and its parsed event."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]] | None: ...
    @property
    def event(self) -> InputEvent | None: ...
