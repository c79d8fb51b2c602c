"""The nesting bound of a hook body: `MAX_JSON_DEPTH` levels pass, one more is refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.ingress.handlers import MAX_JSON_DEPTH, _deeper_than


def objects(depth: int) -> Any:
    return orjson.loads(b'{"a":' * depth + b"1" + b"}" * depth)


def arrays(depth: int) -> Any:
    return orjson.loads(b"[" * depth + b"1" + b"]" * depth)


@pytest.mark.parametrize("build", [objects, arrays])
def test_the_bound_is_exact(build: Any) -> None:
    assert not _deeper_than(build(MAX_JSON_DEPTH), MAX_JSON_DEPTH)
    assert _deeper_than(build(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)


def test_scalars_and_mixed_containers() -> None:
    assert not _deeper_than("text", 1)
    assert not _deeper_than({"a": 1, "b": [1, 2]}, 2)
    assert _deeper_than({"a": 1, "b": [1, {"c": []}]}, 3)
    # The deepest branch counts, wherever it is among its siblings.
    assert _deeper_than([1, {"x": [objects(MAX_JSON_DEPTH - 2)]}], MAX_JSON_DEPTH)
