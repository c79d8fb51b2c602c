"""The console page's script, read as text: it renders data only as text and shows pending events.

The page masks personal data and runs under a strict Content-Security-Policy; building nodes with
`textContent` / text nodes (never HTML strings) is what keeps a hostile value in an order, a dead letter
or a pending event from becoming markup. Its behaviour in a browser is `tests/integration/
test_console_browser.py`'s.
"""

from __future__ import annotations

import re

from processors.console.page import STATIC

SCRIPT = (STATIC / "console.js").read_text(encoding="utf-8")
PAGE = (STATIC / "console.html").read_text(encoding="utf-8")


def _function(name: str) -> str:
    """Return the source of the top-level function `name` (up to the next top-level declaration)."""
    match = re.search(
        rf"^(?:async )?function {name}\(.*?(?=^(?:async )?function |^// ---|\Z)", SCRIPT, re.M | re.S
    )
    assert match is not None, f"console.js has no function {name}"
    return match.group(0)


def test_no_html_sinks() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in SCRIPT, sink


def test_nodes_hold_text_only() -> None:
    builder = _function("el")
    assert "document.createTextNode(String(child))" in builder
    assert "setAttribute" in builder and "innerHTML" not in builder


def test_pending_rendered_as_text() -> None:
    render = _function("renderPending")
    assert "view.hidden = pending.length === 0" in render  # shown only when something waits
    assert ".textContent =" in render and 'el("td"' in render
    for field in (
        "entry.state",
        "entry.status",
        "entry.received_at",
        "waitReason(waiting)",
        "waitUntil(waiting)",
    ):
        assert field in render, field
    search = _function("searchOrder")
    assert "renderPending(pending)" in search and "body.pending" in search
    reasons = _function("waitReason")
    for reason in ("not-found-grace", "retry-backoff", "behind-earlier-event", "processing"):
        assert f'"{reason}"' in reasons, reason


def test_pending_section_hidden_by_default() -> None:
    assert '<div id="pending-view" hidden>' in PAGE
    assert "Pending in the worker" in PAGE
    assert '<table id="pending">' in PAGE
