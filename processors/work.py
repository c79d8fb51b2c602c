"""One input record in flight through the worker: where it came from, its decoded event, its ack.

Built by `processors.runtime.Runtime.submit` for each record Faust hands over, queued in its order's
lane (`processors.lanes`), handled by `processors.pipeline.Pipeline`, acked (`ack`) once its outcome
committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.events import InputEvent


@dataclass(slots=True)
class Work:
    """One input record in flight."""

    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    event: InputEvent | None
    invalid_reason: str | None
    ack: Callable[[], object]
    #: The input record's headers (read only when tracing is on: they carry the trace context).
    headers: Sequence[tuple[str, bytes]] | None = None

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"
