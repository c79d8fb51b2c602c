"""An OMS order as VTEX sent it: the validated JSON bytes, with the few fields we read, parsed on demand.

The processor reads a ~10 kB order per event and writes it, unchanged, inside the downstream record.
Parsing it into Python objects and serialising it again cost ~30 µs per event in isolation and 10 % of
the worker's CPU under load (docs/performance.md, fourth session), for one field (`status`). simdjson
validates the whole document (JSON syntax, UTF-8) without building Python objects, so a non-JSON answer
is still refused at the edge, and the bytes go downstream as they are (`orjson.Fragment`). Anything
that reads more than the status (the backfill, `vtex-bridge expr test`, tests) gets the full parse,
once, through the `Mapping` interface.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import simdjson


class NotAnOrder(ValueError):
    """The bytes are not a JSON object (not JSON at all, not UTF-8, or another JSON value)."""


class _Parsers(threading.local):
    """One simdjson parser per thread: a parser is reused across documents but is not thread-safe."""

    def __init__(self) -> None:
        self.parser = simdjson.Parser()


_parsers = _Parsers()
_ABSENT: Any = object()
_JSON_KINDS: dict[type, str] = {
    simdjson.Array: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class OrderDocument(Mapping[str, Any]):
    """See the module docstring. Equal to a mapping with the same content, like the dict it stands for."""

    __slots__ = ("_parsed", "_status", "raw")

    def __init__(self, raw: bytes, status: Any = _ABSENT) -> None:
        self.raw = raw
        self._status = status
        self._parsed: dict[str, Any] | None = None

    @classmethod
    def parse(cls, raw: bytes) -> OrderDocument:
        """Validate `raw` as a JSON object and keep it; raise `NotAnOrder` otherwise."""
        parser = _parsers.parser
        try:
            document = parser.parse(raw)
        except (ValueError, RuntimeError) as exc:  # UnicodeDecodeError is a ValueError
            raise NotAnOrder(str(exc)) from exc
        try:
            if not isinstance(document, simdjson.Object):
                raise NotAnOrder(f"a JSON {_JSON_KINDS.get(type(document), 'value')}, not an object")
            status = document.get("status", _ABSENT)
            if isinstance(status, simdjson.Array):
                status = status.as_list()
            elif isinstance(status, simdjson.Object):
                status = status.as_dict()
        finally:
            del document  # the parser refuses the next document while a proxy of this one lives
        return cls(raw, status)

    @property
    def status(self) -> Any:
        """The order's `status` field (None when absent), read without parsing the rest."""
        return None if self._status is _ABSENT else self._status

    def parsed(self) -> dict[str, Any]:
        """Return the whole order as Python objects (parsed on first use)."""
        if self._parsed is None:
            self._parsed = orjson.loads(self.raw)
        return self._parsed

    def fragment(self) -> orjson.Fragment:
        """Return the order for embedding in another document as it came (no re-serialisation)."""
        return orjson.Fragment(self.raw)

    def __getitem__(self, key: str) -> Any:
        if key == "status" and self._status is not _ABSENT:
            return self._status
        return self.parsed()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.parsed())

    def __len__(self) -> int:
        return len(self.parsed())

    def __repr__(self) -> str:
        return f"OrderDocument({len(self.raw)} bytes, status={self.status!r})"


def order_json(order: Mapping[str, Any]) -> Any:
    """Return `order` ready for `orjson.dumps`: the received bytes when it is an `OrderDocument`."""
    if isinstance(order, OrderDocument):
        return order.fragment()
    return dict(order)
