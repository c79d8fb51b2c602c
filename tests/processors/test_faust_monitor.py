"""The worker's Faust monitor skips the per-stream/per-task counts and keeps what Faust reads back."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from faust.types import TP

from bridge.settings import load_settings
from processors.app import create_app
from processors.faust_monitor import LeanMonitor


def test_the_worker_app_uses_it(tmp_path: Path) -> None:
    app = create_app(load_settings(kafka_embedded=False), data_dir=tmp_path)
    assert isinstance(app.monitor, LeanMonitor)


def test_an_event_in_and_out_keeps_faust_s_own_figures() -> None:
    monitor = LeanMonitor()
    tp = TP("in", 3)
    stream = SimpleNamespace(task_owner=None)
    state = monitor.on_stream_event_in(tp, 7, stream, object())  # type: ignore[arg-type]
    assert state is not None and state["time_in"] is not None
    assert (1, 1) == (monitor.events_total, monitor.events_active)
    assert tp in monitor.stream_inbound_time  # Faust's stalled-stream check reads it
    assert not monitor.events_by_stream and not monitor.events_by_task  # the bookkeeping it skips
    monitor.on_stream_event_out(tp, 7, stream, object(), state)  # type: ignore[arg-type]
    assert 0 == monitor.events_active
    assert state["time_total"] is not None
