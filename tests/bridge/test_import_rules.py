"""The layers of docs/architecture.md, enforced: which package may import which.

The pure core and the clients in `bridge/` are shared by every service, so they must not pull in the
worker (`processors`) or the simulator; only the composition root, the one package `bridge.cli` (the
command line, its sub-commands in `bridge.cli.commands` and `vtex-bridge dev` in `bridge.cli.dev`),
wires those together, and nothing imports it (that would bring them in through it). Dev and test
tooling (`testkit`, `tests`, `bench`) never leaks into product code, and `bench/` uses `testkit`, never
test modules. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The composition root: this package and every module under it.
COMPOSITION_ROOT = "bridge.cli"
TOOLING = ("testkit", "tests", "bench")

#: package -> prefixes of modules it must not import (a prefix matches the module and its children)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "bridge": ("processors", "simulator", COMPOSITION_ROOT, *TOOLING),
    "processors": ("simulator", COMPOSITION_ROOT, *TOOLING),
    "simulator": ("processors", COMPOSITION_ROOT, *TOOLING),
    "schemas": ("bridge", "processors", "simulator", *TOOLING),
    "testkit": ("tests", "bench"),
    "bench": ("tests",),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from bridge.cli import commands` imports bridge.cli.commands
                yield node.lineno, f"{node.module}.{alias.name}"


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _violations(package: str) -> list[str]:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        importer = _module_name(path)
        if _matches(importer, COMPOSITION_ROOT):
            continue  # the composition root may import anything
        for line, module in _imports(path):
            bad = next((p for p in FORBIDDEN[package] if _matches(module, p)), None)
            if bad is not None:
                found.append(f"{path.relative_to(REPO)}:{line} imports {module} (no {bad} in {package})")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_the_layers(package: str) -> None:
    assert _violations(package) == []


def test_the_rule_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from processors.routing import Router\n    return Router\n")
    assert [m for _, m in _imports(module)] == ["processors.routing", "processors.routing.Router"]
