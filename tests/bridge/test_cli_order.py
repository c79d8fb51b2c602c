"""`vtex-bridge order` asks a worker's console API and prints a table; exit codes tell found/missing/down."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from bridge.cli import main
from bridge.commands.order import EXIT_FOUND, EXIT_NOT_FOUND, EXIT_UNREACHABLE, render

ANSWER = {
    "order_id": "o-1",
    "partition": 2,
    "answered_by": "http://127.0.0.1:6066",
    "forwarded": True,
    "forwarded_by": "http://127.0.0.1:6067",
    "timeline": [
        {
            "event_id": "e1",
            "state": "invoiced",
            "source": "hook",
            "received_at": "2026-03-01T12:00:00Z",
            "outcome": "emitted",
            "record": {"topic": "st.invoiced", "partition": 2, "offset": 41},
            "oms": {"status": "invoiced", "latency_ms": 12.5},
            "order_sequence": 1,
            "attempts": 2,
            "retries": {"oms": 1},
        },
        {"event_id": "e1", "state": "invoiced", "source": "feed", "outcome": "duplicate"},
        {
            "event_id": "e0",
            "state": "handling",
            "source": "hook",
            "outcome": "late",
            "newer_state": "invoiced",
        },
    ],
    "latest": {"order_status": "invoiced", "state": "invoiced", "processed_at": "2026-03-01T12:00:01Z"},
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = self.path == "/api/orders/o-1"
        body = ANSWER if found else {"error": "not-found", "order_id": "x", "partition": 0}
        raw = orjson.dumps(body)
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def worker_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class TestOrderCommand:
    """The table lists every entry in order; --json passes the answer through."""

    def test_table(self, worker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        assert EXIT_FOUND == main(["order", "o-1", "--url", worker_url])
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("order o-1: partition 2, answered by http://127.0.0.1:6066 (forwarded by")
        assert ["#", "RECEIVED"] == out[1].split()[:2]
        assert "st.invoiced[2]@41" in out[2] and "oms=invoiced 12.5ms" in out[2] and "retries=oms:1" in out[2]
        assert "duplicate" in out[3]
        assert "late (after invoiced)" in out[4]
        assert out[5].startswith("latest enriched order: status invoiced")

    def test_json_and_not_found(self, worker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        assert EXIT_FOUND == main(["order", "o-1", "--json", "--url", worker_url])
        assert ANSWER == orjson.loads(capsys.readouterr().out)
        assert EXIT_NOT_FOUND == main(["order", "missing", "--url", worker_url])
        assert "no timeline for order missing" in capsys.readouterr().err

    def test_unreachable(self, capsys: pytest.CaptureFixture[str]) -> None:
        with contextlib.closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, never listening: refused
            assert EXIT_UNREACHABLE == main(["order", "o-1", "--url", f"http://127.0.0.1:{port}"])
        assert "unreachable" in capsys.readouterr().err

    @pytest.mark.parametrize("order_id", ["../../api/x?y", "v1-01#x", "..", "v1\x00"])
    def test_invalid_order_id_exits_2_before_any_request(
        self, worker_url: str, order_id: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as caught:
            main(["order", order_id, "--url", worker_url])
        assert 2 == caught.value.code
        assert "not a VTEX OrderId" in capsys.readouterr().err

    def test_render_without_timeline(self) -> None:
        assert (
            "order o: partition 0, answered by u"
            == render({"order_id": "o", "partition": 0, "answered_by": "u"}).splitlines()[0]
        )
