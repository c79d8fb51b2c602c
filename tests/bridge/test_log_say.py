"""`say` prints a progress line even when a log handler's stream is already closed."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from bridge.log import say


def test_a_closed_handler_stream_does_not_stop_a_progress_line(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    gone = (tmp_path / "captured.log").open("w")  # as a test runner's capture file, closed since
    gone.close()
    out = io.StringIO()
    try:
        root.handlers[:] = [logging.StreamHandler(gone)]
        say("draining: 3 records left", stream=out)
    finally:
        root.handlers[:] = saved
    assert out.getvalue() == "draining: 3 records left\n"
