"""`vtex-bridge order ORDER_ID`: what happened to an order's notifications, asked of a worker.

Any worker answers for any order (it forwards to the owner of the order's partition), so `--url` can be
the Service in front of the workers; the default is this machine's worker console (`worker_advertised_url`,
else http://127.0.0.1:<console_port>). It logs in with `console_read_token`, else `console_admin_token`.
Prints the order's timeline as a table, then its *pending* events (still in a worker: in the not-found
grace, backing off after a failure, or queued behind them; no outcome yet), or the API's JSON with
`--json`. A replayed event's row is marked as a replay. Exit codes: 0 found (a timeline or pending
events), 3 no timeline and nothing pending for the order, 1 the worker is unreachable, refused the login
or failed.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from bridge.console_client import console_base, fetch, order_path, waiting_text
from bridge.settings import Settings

EXIT_FOUND: Final = 0
EXIT_UNREACHABLE: Final = 1
EXIT_NOT_FOUND: Final = 3


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
    parser.add_argument(
        "--account",
        default=None,
        type=_account,
        help="the VTEX account the order belongs to (default: the default account, docs/accounts.md)",
    )
    parser.set_defaults(func=run)


def _order_id(value: str) -> str:
    """Refuse what is no VTEX OrderId (bridge.identifiers): argparse then exits 2 with the reason."""
    from bridge.identifiers import order_id_problem

    problem = order_id_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"not a VTEX OrderId: it {problem}")
    return value


def _account(value: str) -> str:
    """Refuse what is no VTEX account name: argparse then exits 2 with the reason."""
    from bridge.identifiers import account_name_problem

    problem = account_name_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"not a VTEX account name: it {problem}")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    import orjson

    base = console_base(settings, args.url)
    try:
        status, body = fetch(settings, base, order_path(args.order_id, args.account))
    except OSError as exc:  # urllib's URLError is an OSError
        print(f"vtex-bridge order: worker at {base} unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
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


COLUMNS: Final = ("#", "RECEIVED", "STATE", "SOURCE", "INPUT", "OUTCOME", "RECORD", "DETAILS")
PENDING_COLUMNS: Final = ("", "RECEIVED", "STATE", "SOURCE", "INPUT", "STATUS", "WAITING FOR")


def render(body: dict[str, Any]) -> str:
    """Return the human table of an order lookup answer: its timeline, then its pending events.

    A replayed event's row says so (source `hook (replay)`, its new input offset, when it was replayed
    and from which dead letter): it has the original's event id, state and receipt time.
    """
    via = f" (forwarded by {body['forwarded_by']})" if body.get("forwarded") else ""
    lines = [
        f"order {body.get('order_id')}: partition {body.get('partition')}, "
        f"answered by {body.get('answered_by')}{via}",
    ]
    timeline = body.get("timeline") or []
    rows: list[tuple[str, ...]] = [COLUMNS]
    for index, entry in enumerate(timeline, start=1):
        record = entry.get("record") or {}
        where = f"{record['topic']}[{record['partition']}]@{record['offset']}" if record else ""
        rows.append(
            (
                str(index),
                str(entry.get("received_at") or ""),
                str(entry.get("state") or "-"),
                _source(entry),
                _input(entry),
                _outcome(entry),
                where,
                _details(entry),
            )
        )
    if timeline:
        lines += _table(rows)
    else:
        lines.append("no outcome committed yet")
    pending = body.get("pending") or []
    if pending:
        lines.append(
            f"pending: {len(pending)} event(s) not processed yet (nothing is lost: they are retried)"
        )
        rows = [PENDING_COLUMNS]
        for entry in pending:
            rows.append(
                (
                    "*",
                    str(entry.get("received_at") or ""),
                    str(entry.get("state") or "-"),
                    _source(entry),
                    _input(entry),
                    str(entry.get("status") or ""),
                    waiting_text(entry.get("waiting")),
                )
            )
        lines += _table(rows)
    latest = body.get("latest")
    if isinstance(latest, dict) and not latest.get("error"):
        lines.append(
            f"latest enriched order: status {latest.get('order_status')}, state {latest.get('state')}, "
            f"processed at {latest.get('processed_at')}"
        )
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows padded to their columns' widths (the last column is free text)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
        for row in rows
    ]


def _source(entry: dict[str, Any]) -> str:
    source = str(entry.get("source") or "")
    return f"{source} (replay)" if entry.get("replay") else source


def _input(entry: dict[str, Any]) -> str:
    where = entry.get("input")
    if isinstance(where, dict):
        return f"{where.get('partition')}@{where.get('offset')}"
    return ""


def _outcome(entry: dict[str, Any]) -> str:
    outcome = str(entry.get("outcome") or "")
    if entry.get("newer_state"):
        return f"{outcome} (after {entry['newer_state']})"
    return outcome


def _details(entry: dict[str, Any]) -> str:
    parts = []
    replay = entry.get("replay")
    if isinstance(replay, dict):
        letter = replay.get("dead_letter") or {}
        parts.append(
            f"replayed at {replay.get('replayed_at')} from "
            f"{letter.get('topic')}[{letter.get('partition')}]@{letter.get('offset')}"
        )
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
