"""`vtex-bridge order ORDER_ID`: what happened to an order's notifications, asked of a worker.

Any worker answers for any order (it forwards to the owner of the order's partition), so `--url` can be
the Service in front of the workers; the default is this machine's worker console (`worker_advertised_url`,
else http://127.0.0.1:<console_port>). It logs in with `console_read_token`, else `console_admin_token`.
Prints the order's timeline as a table, or the API's JSON with `--json`. Exit codes: 0 found, 3 no
timeline for the order, 1 the worker is unreachable, refused the login or failed.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from bridge.settings import Settings

EXIT_FOUND: Final = 0
EXIT_UNREACHABLE: Final = 1
EXIT_NOT_FOUND: Final = 3
TIMEOUT_S: Final = 20.0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "order", help="show what happened to an order's notifications (timeline from a worker)"
    )
    parser.add_argument(
        "order_id",
        metavar="ORDER_ID",
        type=_order_id,
        help="the VTEX OrderId, e.g. 1368540712345-01 (anything else exits 2 before any request)",
    )
    parser.add_argument("--json", action="store_true", help="print the worker's JSON answer")
    parser.add_argument("--url", default=None, help="a worker's (or the workers' Service) base URL")
    parser.set_defaults(func=run)


def _order_id(value: str) -> str:
    """Refuse what is no VTEX OrderId (bridge.identifiers): argparse then exits 2 with the reason."""
    from bridge.identifiers import order_id_problem

    problem = order_id_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"not a VTEX OrderId: it {problem}")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    import sys
    import urllib.error
    import urllib.parse
    import urllib.request

    import orjson

    from processors.console.ownership import advertised_url

    base = (args.url or advertised_url(settings)).rstrip("/")
    url = f"{base}/api/orders/{urllib.parse.quote(args.order_id, safe='')}"
    headers = {"Accept": "application/json"}
    token = settings.console_read_token.get_secret_value() or settings.console_admin_token.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        print(f"vtex-bridge order: worker at {base} unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        print(f"vtex-bridge order: {base} answered {status} without JSON", file=sys.stderr)
        return EXIT_UNREACHABLE
    if status == 404 and body.get("error") == "not-found":
        if args.json:
            print(orjson.dumps(body).decode())
        print(
            f"vtex-bridge order: no timeline for order {args.order_id} (partition {body.get('partition')}; "
            "never seen, or expired)",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    if status == 401:
        print(
            f"vtex-bridge order: {base} refused the login ({body.get('error')}): set "
            "VTEX_BRIDGE_CONSOLE_READ_TOKEN (or VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN) to the workers' token",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    if status != 200:
        print(f"vtex-bridge order: {base} answered {status}: {body.get('error', body)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.json:
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(body))
    return EXIT_FOUND


COLUMNS: Final = ("#", "RECEIVED", "STATE", "SOURCE", "OUTCOME", "RECORD", "DETAILS")


def render(body: dict[str, Any]) -> str:
    """Return the human table of an order lookup answer."""
    via = f" (forwarded by {body['forwarded_by']})" if body.get("forwarded") else ""
    lines = [
        f"order {body.get('order_id')}: partition {body.get('partition')}, "
        f"answered by {body.get('answered_by')}{via}",
    ]
    rows = [COLUMNS]
    for index, entry in enumerate(body.get("timeline") or [], start=1):
        record = entry.get("record") or {}
        where = f"{record['topic']}[{record['partition']}]@{record['offset']}" if record else ""
        rows.append(
            (
                str(index),
                str(entry.get("received_at") or ""),
                str(entry.get("state") or "-"),
                str(entry.get("source") or ""),
                _outcome(entry),
                where,
                _details(entry),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    latest = body.get("latest")
    if isinstance(latest, dict) and not latest.get("error"):
        lines.append(
            f"latest enriched order: status {latest.get('order_status')}, state {latest.get('state')}, "
            f"processed at {latest.get('processed_at')}"
        )
    return "\n".join(lines)


def _outcome(entry: dict[str, Any]) -> str:
    outcome = str(entry.get("outcome") or "")
    if entry.get("newer_state"):
        return f"{outcome} (after {entry['newer_state']})"
    return outcome


def _details(entry: dict[str, Any]) -> str:
    parts = []
    oms = entry.get("oms")
    if isinstance(oms, dict):
        parts.append(f"oms={oms.get('status')} {oms.get('latency_ms')}ms")
    if entry.get("order_sequence"):
        parts.append(f"seq={entry['order_sequence']}")
    if entry.get("attempts"):
        parts.append(f"attempts={entry['attempts']}")
    retries = entry.get("retries")
    if isinstance(retries, dict) and retries:
        parts.append("retries=" + ",".join(f"{k}:{v}" for k, v in retries.items()))
    if entry.get("reason"):
        parts.append(f"reason={entry['reason']}")
    return " ".join(parts)
