"""Compile the JSON Schemas in `schemas/` once and validate payloads against them.

fastjsonschema turns a schema into Python code, so the ingress pays microseconds per hook. Schemas
reference each other by `$id` under one base URI; the handler below serves those references from the
files in `schemas/`, so validation never touches the network.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import fastjsonschema
import orjson

from schemas import BASE_URI, SCHEMA_DIR

Validator = Callable[[Any], Any]


class SchemaViolation(ValueError):
    """A payload broke a schema; `path` names the offending field (e.g. `Origin.Key`)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the parsed schema file `schemas/{name}.schema.json`."""
    data = orjson.loads((SCHEMA_DIR / f"{name}.schema.json").read_bytes())
    assert isinstance(data, dict)
    return data


def _local_ref(uri: str) -> dict[str, Any]:
    if not uri.startswith(BASE_URI):
        raise ValueError(f"refusing to resolve a schema outside {BASE_URI}: {uri}")
    return load_schema(uri.removeprefix(BASE_URI).removesuffix(".schema.json"))


@cache
def compiled(name: str) -> Validator:
    """Return the compiled validator of schema `name` (compiled once per process)."""
    return fastjsonschema.compile(load_schema(name), handlers={"https": _local_ref})  # type: ignore[no-any-return]


def validate(name: str, payload: Any) -> None:
    """Raise `SchemaViolation` naming the field when `payload` breaks schema `name`."""
    try:
        compiled(name)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        path = ".".join(str(p) for p in (exc.path or [])[1:])
        raise SchemaViolation(exc.message, path or "$") from exc
