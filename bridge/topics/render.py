"""Human-readable text of a plan, an apply result and a describe report (`--json` prints the data)."""

from __future__ import annotations

from typing import Any, Final

from bridge.topics.apply import ApplyResult
from bridge.topics.plan import Action, Plan

MARKS: Final = {"apply": "+", "refused": "!", "impossible": "x", "info": "?"}
DESCRIBE_COLUMNS: Final = ("topic", "kind", "parts", "repl", "minisr", "cleanup", "retention")
RIGHT_ALIGNED: Final = frozenset({"parts", "repl", "minisr", "retention"})


def plan_text(plan: Plan) -> str:
    """Return one line per difference, marked + (apply does it), ! (refused), x (impossible), ? (info)."""
    if not plan.actions:
        return "topics: the cluster matches the declared topics; nothing to do"
    lines = [_action_line(a) for a in plan.actions]
    summary = plan.to_json()["summary"]
    lines.append(
        f"topics: {summary['apply']} change(s) `apply` makes, {summary['refused']} refused, "
        f"{summary['impossible']} impossible, {summary['info']} reported only"
    )
    return "\n".join(lines)


def _action_line(action: Action) -> str:
    return f"{MARKS[action.verdict]} {action.kind:<26} {action.topic}: {action.detail}"


def apply_text(result: ApplyResult) -> str:
    lines = [
        f"{'done' if o.ok else 'FAILED':<6} {o.action.kind:<14} {o.action.topic}: {o.detail}"
        for o in result.outcomes
    ]
    lines += [_action_line(a) for a in result.plan.blocked]
    if not result.outcomes and not result.plan.blocked:
        lines.append("topics: nothing to do")
    elif result.plan.blocked:
        lines.append(
            f"topics: {len(result.plan.blocked)} refused or impossible difference(s) left as they are "
            "(see `vtex-bridge topics plan`)"
        )
    return "\n".join(lines)


def describe_text(report: dict[str, Any]) -> str:
    """Return the describe report as a table whose columns fit their longest cell (names of any length)."""
    generation = report.get("generation")
    lines = [
        f"cluster {report['bootstrap']}: {report['brokers']} broker(s); input generation "
        + (f"{generation} ({report['phase']})" if generation else "1 (never resharded)")
    ]
    lines += [
        f"worker group {g['id']} on {g['input']}: {_group_state(g)}, {g.get('members', 0)} member(s)"
        for g in report["groups"]
    ]
    rows: list[tuple[str, ...]] = [DESCRIBE_COLUMNS]
    notes: dict[int, list[str]] = {}
    for topic in report["topics"]:
        kind = topic["kind"] if "generation" not in topic else f"{topic['kind']} (g{topic['generation']})"
        if not topic["exists"]:
            rows.append((str(topic["name"]), str(kind), "MISSING"))
            continue
        configs = topic["configs"]
        rows.append(
            (
                topic["name"],
                kind,
                str(topic["partitions"]),
                str(topic["replication_factor"]),
                str(configs.get("min.insync.replicas") or ""),
                str(configs.get("cleanup.policy") or ""),
                _duration(configs.get("retention.ms")),
            )
        )
        extra = []
        if topic["under_replicated_partitions"]:
            extra.append(f"    under-replicated partitions: {topic['under_replicated_partitions']}")
        if "group_lag" in topic:
            per = ", ".join(f"p{lag['partition']}={lag['lag']}" for lag in topic["group_lag"])
            extra.append(f"    lag of {topic['group']}: {topic['total_lag']} ({per})")
        notes[len(rows) - 1] = extra
    widths = [max(len(row[i]) for row in rows if len(row) > i) for i in range(len(DESCRIBE_COLUMNS))]
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i])
            if DESCRIBE_COLUMNS[i] in RIGHT_ALIGNED and len(row) > 3
            else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        lines += notes.get(index, [])
    return "\n".join(lines)


def _group_state(group: dict[str, Any]) -> str:
    """Kafka describes a group that never existed as `Dead` (or, before its coordinator, not at all)."""
    state = group.get("state")
    if state in (None, "Dead") and not group.get("members"):
        return "no group yet"
    return str(state)


def _duration(ms: str | None) -> str:
    if ms is None:
        return ""
    value = int(ms)
    if value < 0:
        return "forever"
    if value % 86_400_000 == 0:
        return f"{value // 86_400_000}d"
    if value % 3_600_000 == 0:
        return f"{value // 3_600_000}h"
    return f"{value}ms"
