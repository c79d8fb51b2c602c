"""Every metric the product exports starts with `vtex_bridge_` (CHANGELOG.md lists the renamed ones).

One prefix lets an operator find, allow-list and alert on everything the bridge exports with one
pattern. The scan reads the source of the product packages (names built from a module's `PREFIX` /
`prefix` constant are checked through that constant).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONSTRUCTOR = re.compile(
    r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum|\w+MetricFamily)\(\s*(f?)\"([^\"]+)\"", re.S
)
PREFIX_CONSTANT = re.compile(r"\b(?:PREFIX|prefix)(?::\s*\w+)?\s*=\s*\"([^\"]+)\"")


def _metric_names() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for package in ("bridge", "processors"):
        for path in sorted((REPO / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            prefixes = PREFIX_CONSTANT.findall(text)
            for is_f, name in CONSTRUCTOR.findall(text):
                if is_f and name.startswith(("{prefix}", "{PREFIX}")):
                    found.extend((str(path.relative_to(REPO)), p + name.split("}", 1)[1]) for p in prefixes)
                else:
                    found.append((str(path.relative_to(REPO)), name))
    return found


def test_every_metric_has_the_product_prefix() -> None:
    names = _metric_names()
    assert len(names) > 40  # the scan sees the metrics (a broken pattern would pass on nothing)
    assert [(where, n) for where, n in names if not n.startswith("vtex_bridge_")] == []
