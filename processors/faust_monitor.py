"""Faust's Monitor sensor without its per-event bookkeeping by stream and by task.

Faust calls the monitor for every event. Its `on_stream_event_in` looks the stream and the owning task up
in two weak dictionaries and counts events under their names, for Faust's own /stats pages, which this
worker does not serve (its metrics are Prometheus', processors.metrics): about 2.5 % of the worker's CPU
at full load (docs/performance.md). What Faust itself reads back is kept: the per-partition inbound time
(its stalled-stream check) and the event counters.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors import Monitor


class LeanMonitor(Monitor):
    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> dict[str, Any] | None:
        self.events_total += 1
        self.stream_inbound_time[tp] = monotonic()
        self.events_active += 1
        return {"time_in": self.time(), "time_out": None, "time_total": None}
