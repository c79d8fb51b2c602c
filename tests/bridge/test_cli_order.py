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
from bridge.cli.commands.order import EXIT_FOUND, EXIT_NOT_FOUND, EXIT_UNREACHABLE, render
from processors.pending import Waits, pending_view
from processors.work import Work

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

    def test_replay_row_and_pending_events(self) -> None:
        body = {
            "order_id": "o-2",
            "partition": 1,
            "answered_by": "u",
            "timeline": [
                {
                    "event_id": "e1",
                    "source": "hook",
                    "outcome": "dead_lettered",
                    "input": {"partition": 1, "offset": 3},
                },
                {
                    "event_id": "e1",
                    "source": "hook",
                    "outcome": "emitted",
                    "input": {"partition": 1, "offset": 9},
                    "replay": {
                        "dead_letter": {"topic": "dlq", "partition": 0, "offset": 4},
                        "replayed_at": "2026-03-01T12:05:00Z",
                    },
                },
            ],
            "pending": [
                {
                    "event_id": "e2",
                    "state": "invoiced",
                    "source": "feed",
                    "status": "in-flight",
                    "input": {"partition": 1, "offset": 10},
                    "waiting": {
                        "reason": "not-found-grace",
                        "until": "2026-03-01T12:07:00Z",
                        "left_s": 75.0,
                        "attempts": 6,
                    },
                },
                {
                    "status": "queued",
                    "input": {"partition": 1, "offset": 11},
                    "waiting": {"reason": "behind-earlier-event"},
                },
            ],
        }
        lines = render(body).splitlines()
        assert "hook (replay)" not in lines[2] and "1@3" in lines[2]
        assert "hook (replay)" in lines[3] and "1@9" in lines[3]
        assert "replayed at 2026-03-01T12:05:00Z from dlq[0]@4" in lines[3]
        assert lines[4].startswith("pending: 2 event(s)")
        assert "OMS answers 404: not-found grace until 2026-03-01T12:07:00Z (75.0 s left" in lines[6]
        assert "queued behind an earlier event" in lines[7]

    def test_parked_events_are_said_in_words(self) -> None:
        body = {
            "order_id": "o-3",
            "timeline": [],
            "pending": [
                {
                    "status": "parked",
                    "input": {"partition": 2, "offset": 40},
                    "waiting": {"reason": "account-queue-full", "parked": 17},
                }
            ],
        }
        text = render(body)
        assert "pending: 1 event(s)" in text
        assert "2@40" in text
        assert "17 event(s) of the order's account parked in its partition from this offset on" in text


class TestWaits:
    """The pipeline's note of what each order waits for, as the console serves it."""

    def test_grace_backoff_done_and_prune(self) -> None:
        now = [1000.0]
        waits = Waits(lambda: now[0])
        waits.not_found("o", 120.0, 1)
        now[0] = 1045.0
        waits.not_found("o", 120.0, 7)  # the grace counts from the first 404
        wait = waits.get("o")
        assert wait is not None
        assert {"reason": "not-found-grace", "cause": "oms-404", "attempts": 7, "left_s": 75.0} == {
            k: v for k, v in wait.to_json(now[0]).items() if k in ("reason", "cause", "attempts", "left_s")
        }
        waits.retrying("p", "oms", 3, 1.5)
        assert ("retry-backoff", 1046.5) == (waits.get("p").reason, waits.get("p").until)  # type: ignore[union-attr]
        waits.done("o")
        assert waits.get("o") is None
        waits.prune(lambda key: False)
        assert 0 == len(waits)

    def test_pending_view_lists_parked_events_last(self) -> None:
        """Parked events (only their position is kept) follow the running and queued ones, oldest first."""

        def work(offset: int) -> Work:
            return Work(1, offset, b"o", b"{}", None, None, lambda: None)

        waits = Waits(lambda: 1000.0)
        waits.retrying("o", "oms", 2, 3.0)
        view = pending_view([work(10)], [work(11)], waits.get("o"), 1000.0, parked=[(1, 12, 4)])
        assert ["in-flight", "queued", "parked"] == [entry["status"] for entry in view]
        assert ["retry-backoff", "behind-earlier-event", "account-queue-full"] == [
            entry["waiting"]["reason"] for entry in view
        ]
        assert [10, 11, 12] == [entry["input"]["offset"] for entry in view]
        assert {
            "status": "parked",
            "input": {"partition": 1, "offset": 12},
            "waiting": {"reason": "account-queue-full", "parked": 4},
        } == view[2]
        assert [] == pending_view([], [], None, 1000.0)
        only_parked = pending_view([], [], None, 1000.0, parked=[(0, 7, 1)])
        assert [
            {
                "status": "parked",
                "input": {"partition": 0, "offset": 7},
                "waiting": {"reason": "account-queue-full", "parked": 1},
            }
        ] == only_parked
