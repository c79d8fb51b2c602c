"""Only two modules touch the private parts of faust-streaming, mode and aiokafka (docs/architecture.md).

`processors.faust_adapter` holds every touch of Faust's and mode's internals, `bridge.aiokafka_fixes` every
touch of aiokafka's; each touch there has a pin test that fails when the pinned version moves. Anywhere
else (product code, `testkit`, `bench`) a touch would break silently on an upgrade, so this scan refuses:

- an import of a library module that is not public (`PUBLIC_MODULES`, each with why it counts as public);
- a private attribute of a library object: `x._name`, `getattr(x, "_name")` and the like, where `_name`
  is a private name the libraries define (collected from their sources) and `x` is not our own `self`;
- in a class derived from a library class, defining or reaching one of the base's private names
  (overriding mode's `Worker._on_sigusr1` is a touch too);
- assigning to an attribute of something imported from a library, or replacing one of a library's
  methods on an object (`consumer.commit_and_end_transactions = ...`): a monkeypatch.

Names our own classes define for themselves are ours even when a library uses the same name; the rare
clash with an object of ours reached from outside is listed in `OURS`, with the reason.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import inspect
import textwrap
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ("faust", "mode", "aiokafka")
SCANNED = ("bridge", "processors", "simulator", "schemas", "testkit", "bench")
#: The two modules allowed to touch (a package `bridge/aiokafka_fixes/` would be allowed whole).
ADAPTERS = ("bridge/aiokafka_fixes", "processors/faust_adapter.py")

#: Library modules imported as public API, with why (anything else of the three libraries is private).
PUBLIC_MODULES: dict[str, str] = {
    "aiokafka": "the package's exported clients and structs",
    "aiokafka.errors": "documented: the errors the clients raise",
    "aiokafka.structs": "documented: TopicPartition, RecordMetadata, OffsetAndMetadata...",
    "aiokafka.abc": "documented: AbstractTokenProvider for OAUTHBEARER",
    "aiokafka.helpers": "documented: create_ssl_context",
    "aiokafka.admin": "the admin client package (its __all__)",
    "aiokafka.admin.config_resource": "ConfigResource, taken by the admin client's public describe_configs "
    "and alter_configs, which aiokafka.admin does not re-export",
    "aiokafka.partitioner": "DefaultPartitioner, the producer's documented `partitioner` default, and "
    "murmur2, the key hash the bridge reproduces to name a key's partition",
    "faust": "the package's exported API",
    "faust.types": "Faust's public type names (TP, StreamT...)",
    "faust.sensors": "Monitor, the documented base class of a custom monitor",
    "mode": "Service, the documented base of a service with a lifecycle",
}

#: (file, private name) pairs reached on an object of ours whose name a library happens to use too.
OURS: dict[tuple[str, str], str] = {
    ("testkit/fake_oms.py", "_server"): "aiohttp's TCPSite (the fake OMS reads its port): not a library here",
}


def _library_root(name: str) -> Path:
    spec = importlib.machinery.PathFinder.find_spec(name)  # faust, once imported, has no __spec__
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


@cache
def library_names() -> tuple[frozenset[str], frozenset[str]]:
    """(private names, method names) the three libraries define, from their sources."""
    private: set[str] = set()
    methods: set[str] = set()
    for library in LIBRARIES:
        for path in _library_root(library).rglob("*.py"):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):  # pragma: no cover - vendored oddities
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    (private if _is_private(node.name) else methods).add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    if _is_private(node.attr):
                        private.add(node.attr)
                elif isinstance(node, ast.ClassDef):
                    for item in node.body:
                        target = item.target if isinstance(item, ast.AnnAssign) else None
                        if isinstance(target, ast.Name) and _is_private(target.id):
                            private.add(target.id)
    return frozenset(private), frozenset(methods - private)


def _library_module(module: str) -> bool:
    return module.split(".")[0] in LIBRARIES


def _private_names_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_private(node.name):
            found.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _is_private(node.attr):
            found.add(node.attr)
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and _is_private(target.id):
                    found.add(target.id)
    return found


@cache
def class_private_names(qualified: str) -> frozenset[str]:
    """The private names a library class (`module.Class`) and its library bases define."""
    module, _, name = qualified.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    found: set[str] = set()
    for base in inspect.getmro(cls):
        if base.__module__.split(".")[0] in LIBRARIES:
            found |= {n for n in vars(base) if _is_private(n)}
            found |= _private_names_in(ast.parse(textwrap.dedent(inspect.getsource(base))))
    return frozenset(found)


class Scan(ast.NodeVisitor):
    """The touches of one module (line, what)."""

    def __init__(self, private: frozenset[str], methods: frozenset[str]) -> None:
        self.private, self.methods = private, methods
        self.found: list[tuple[int, str]] = []
        self.imported: dict[str, str] = {}  # local name -> the library module or `module.name` it binds
        self.base_private: list[frozenset[str]] = []  # per enclosing class: its library base's names
        self.functions: set[str] = set()

    def _touch(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _library_module(alias.name):
                local = alias.asname or alias.name.split(".")[0]
                self.imported[local] = alias.name if alias.asname else local
                if alias.name not in PUBLIC_MODULES:
                    self._touch(node, f"imports private module {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not _library_module(module):
            return
        if module not in PUBLIC_MODULES:
            self._touch(node, f"imports private module {module}")
        for alias in node.names:
            self.imported[alias.asname or alias.name] = f"{module}.{alias.name}"
            if _is_private(alias.name):
                self._touch(node, f"imports private name {module}.{alias.name}")

    def _qualified(self, node: ast.expr) -> str | None:
        """`module.name` of the library thing `node` names (`faust.Worker`, `Service`), else None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.imported:
            return None
        return ".".join([self.imported[node.id], *parts])

    def _from_library(self, node: ast.expr) -> bool:
        return self._qualified(node) is not None

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.add(node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        names: frozenset[str] = frozenset()
        for base in node.bases:
            qualified = self._qualified(base)
            if qualified is not None:
                names |= class_private_names(qualified)
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in names:
                self._touch(item, f"overrides private {item.name} of a library class")
        self.base_private.append(names)
        for item in node.body:
            self.visit(item)
        self.base_private.pop()

    def _own(self, receiver: ast.expr, name: str) -> bool:
        """`self`/`cls` reaching a name of ours (not one of its library base class's)."""
        if not (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")):
            return False
        return not self.base_private or name not in self.base_private[-1]

    def visit_Attribute(self, node: ast.Attribute) -> None:
        receiver = node.value
        if (
            isinstance(receiver, ast.Call)
            and isinstance(receiver.func, ast.Name)
            and receiver.func.id == "super"
        ):
            if self.base_private and node.attr in self.base_private[-1]:
                self._touch(node, f"reaches private {node.attr}")
        elif node.attr in self.private and not self._own(receiver, node.attr):
            self._touch(node, f"reaches private {node.attr}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "hasattr", "delattr"):
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value in self.private:
                self._touch(node, f"reaches private {name.value} by {func.id}")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if not isinstance(target, ast.Attribute) or self._own(target.value, target.attr):
                continue
            function = isinstance(node.value, ast.Lambda) or (
                isinstance(node.value, ast.Name) and node.value.id in self.functions
            )
            if self._from_library(target.value):
                self._touch(target, f"monkeypatches {target.attr} of a library object")
            elif function and target.attr in self.methods:  # a function put in place of a library method
                self._touch(target, f"replaces method {target.attr} on an object")
        self.generic_visit(node)


def touches(path: Path) -> list[str]:
    private, methods = library_names()
    scan = Scan(private, methods)
    scan.visit(ast.parse(path.read_text(encoding="utf-8")))
    relative = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
    return [
        f"{relative}:{line}: {what}" for line, what in scan.found if (relative, what.split()[-1]) not in OURS
    ]


def _scanned() -> Iterator[Path]:
    for package in SCANNED:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = str(path.relative_to(REPO))
            if not any(
                relative == a or relative.startswith(a + "/") or relative == a + ".py" for a in ADAPTERS
            ):
                yield path


@pytest.mark.parametrize("package", SCANNED)
def test_only_the_adapters_touch_library_internals(package: str) -> None:
    found = [t for path in _scanned() if path.relative_to(REPO).parts[0] == package for t in touches(path)]
    assert found == []


def test_the_scan_sees_each_kind_of_touch(tmp_path: Path) -> None:
    module = tmp_path / "touchy.py"
    module.write_text(
        "import faust\n"
        "from aiokafka.protocol.metadata import MetadataRequest\n"
        "from aiokafka.consumer.fetcher import Fetcher\n"
        "def f(app, producer):\n"
        "    app.consumer._committed_offset.get(1)\n"
        "    getattr(producer, '_txn_manager', None)\n"
        "    Fetcher.close = None\n"
        "    async def bounded():\n"
        "        pass\n"
        "    app.consumer.commit_and_end_transactions = bounded\n"
        "class W(faust.Worker):\n"
        "    def _on_sigusr1(self):\n"
        "        self._schedule_shutdown(None)\n"
        "class Ours:\n"
        "    def __init__(self):\n"
        "        self._consumer = None\n"
    )
    found = [t.split(": ", 1)[1] for t in touches(module)]
    assert found == [
        "imports private module aiokafka.protocol.metadata",
        "imports private module aiokafka.consumer.fetcher",
        "reaches private _committed_offset",
        "reaches private _txn_manager by getattr",
        "monkeypatches close of a library object",
        "replaces method commit_and_end_transactions on an object",
        "overrides private _on_sigusr1 of a library class",
        "reaches private _schedule_shutdown",
    ]


def test_the_adapters_are_where_the_touches_went() -> None:
    """The scan would see them there: the two modules are exempt, not blind spots of the scan."""
    for adapter in ("bridge/aiokafka_fixes.py", "processors/faust_adapter.py"):
        assert touches(REPO / adapter), adapter
