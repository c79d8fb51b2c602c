"""Evaluate VTEX FromOrders JSONata filter expressions locally, the way VTEX decides a match.

VTEX evaluates a FromOrders `expression` against the Get-order JSON and creates an event when the result
is truthy (REFERENCE.md section 4). `vtex-bridge expr test` and `hook/feed set` use this module to catch
syntax errors and to show what an expression does to a real order *before* it is configured on VTEX.
jsonata-python (a port of jsonata-java) follows JSONata 2.x; VTEX's evaluator version is not documented,
so a rare function may behave differently there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import jsonata

#: Bounds on one evaluation, so a runaway expression cannot hang the CLI.
EVAL_TIMEOUT_MS: Final = 5_000
EVAL_MAX_DEPTH: Final = 500


class ExpressionError(ValueError):
    """An expression that cannot be compiled or evaluated; `code` is JSONata's (e.g. S0207)."""

    def __init__(self, message: str, *, code: str | None, position: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.position = position


class ExpressionSyntaxError(ExpressionError):
    """The expression does not parse: VTEX would never match anything with it."""


class ExpressionEvaluationError(ExpressionError):
    """The expression parses but failed on this order (type error, undefined function, time-out)."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The expression's value on one order, and whether VTEX would treat that as a match."""

    result: Any
    matches: bool


def _error(cls: type[ExpressionError], exc: Exception, expression: str) -> ExpressionError:
    code = getattr(exc, "error", None)
    position = getattr(exc, "location", None)
    where = ""
    if isinstance(position, int) and position > 0:
        where = f" at position {position}: {expression[:position]}<-- here"
    return cls(f"{exc}{where}", code=str(code) if code else None, position=position)


class Expression:
    """A compiled FromOrders expression."""

    def __init__(self, text: str) -> None:
        if not text.strip():
            raise ExpressionSyntaxError("the expression is empty", code=None, position=0)
        self.text = text
        try:
            self._compiled = jsonata.Jsonata(text, timeout=EVAL_TIMEOUT_MS, stack=EVAL_MAX_DEPTH)
        except Exception as exc:  # jsonata raises JException (a RuntimeError) and sometimes plain errors
            raise _error(ExpressionSyntaxError, exc, text) from exc
        if self._compiled.get_errors():
            raise ExpressionSyntaxError(
                f"syntax errors: {self._compiled.get_errors()}", code=None, position=None
            )

    def evaluate(self, order: Any) -> Evaluation:
        """Return the expression's value on `order` and whether it is a match (JSONata truthiness)."""
        try:
            result = self._compiled.evaluate(order)
        except Exception as exc:
            raise _error(ExpressionEvaluationError, exc, self.text) from exc
        return Evaluation(result=result, matches=is_truthy(result))


def compile_expression(text: str) -> Expression:
    """Return the compiled expression; raise `ExpressionSyntaxError` with JSONata's message."""
    return Expression(text)


def is_truthy(value: Any) -> bool:
    """Return JSONata's boolean cast of a result (`$boolean`): what makes an order match."""
    return bool(jsonata.Jsonata.boolize(value))
