"""`vtex-bridge expr test EXPRESSION --order FILE|--order-id ID`: try a FromOrders filter locally.

Prints the expression's value on the order and whether VTEX would count it as a match, before anyone
configures it on VTEX. Exit codes follow grep: 0 = the order matches, 1 = it does not, 3 = the
expression does not compile or fails on this order; a missing order or unreadable file has its own code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from bridge.settings import Settings

EXIT_MATCH: Final = 0
EXIT_NO_MATCH: Final = 1


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("expr", help="evaluate FromOrders JSONata expressions locally")
    actions = parser.add_subparsers(dest="expr_action", metavar="ACTION", required=True)
    test = actions.add_parser(
        "test",
        help="evaluate EXPRESSION against an order; exit 0 if it matches, 1 if not, 3 on a bad expression",
    )
    test.add_argument("expression", metavar="EXPRESSION", help="JSONata, e.g. 'status = \"invoiced\"'")
    source = test.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--order", type=Path, metavar="FILE", help="order JSON file (Get order shape; - = stdin)"
    )
    source.add_argument("--order-id", metavar="ID", help="fetch the order from OMS (needs View order)")
    test.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from bridge.expressions import ExpressionError, ExpressionSyntaxError, compile_expression
    from bridge.vtex.config_models import EXIT_BAD_REQUEST

    try:
        expression = compile_expression(args.expression)
    except ExpressionSyntaxError as exc:
        print(f"vtex-bridge expr test: syntax error ({exc.code or 'JSONata'}): {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    loaded = _load_order(args, settings)
    if isinstance(loaded, int):
        return loaded
    try:
        evaluation = expression.evaluate(loaded)
    except ExpressionError as exc:
        print(f"vtex-bridge expr test: evaluation failed ({exc.code or 'JSONata'}): {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    result = orjson.dumps(evaluation.result, option=orjson.OPT_INDENT_2, default=str).decode()
    print(f"result: {result}")
    order_id = loaded.get("orderId", "?") if isinstance(loaded, dict) else "?"
    if evaluation.matches:
        print(f"match: yes (VTEX would create an event for order {order_id})")
        return EXIT_MATCH
    print(f"match: no (VTEX would not create an event for order {order_id})")
    return EXIT_NO_MATCH


def _load_order(args: argparse.Namespace, settings: Settings) -> Any | int:
    """Return the order document, or the exit code after printing why it cannot be had."""
    import orjson

    if args.order is not None:
        try:
            raw = sys.stdin.buffer.read() if str(args.order) == "-" else args.order.read_bytes()
            return orjson.loads(raw)
        except OSError as exc:
            print(f"vtex-bridge expr test: cannot read {args.order}: {exc.strerror}", file=sys.stderr)
            return 2
        except orjson.JSONDecodeError as exc:
            print(f"vtex-bridge expr test: {args.order} is not JSON: {exc}", file=sys.stderr)
            return 2
    return _fetch(args.order_id, settings)


def _fetch(order_id: str, settings: Settings) -> Any | int:
    import asyncio

    from bridge.accounts import AccountsConfigError
    from bridge.backfill import oms_error_exit_code
    from bridge.vtex.errors import OmsError
    from bridge.vtex.oms import OmsClient

    async def fetch() -> dict[str, Any]:
        async with OmsClient.from_settings(settings) as oms:
            return dict(await oms.get_order(order_id))

    try:
        return asyncio.run(fetch())
    except AccountsConfigError as exc:
        print(f"vtex-bridge expr test: {exc}", file=sys.stderr)
        return 2
    except OmsError as exc:
        code, hint = oms_error_exit_code(exc)
        print(f"vtex-bridge expr test: cannot fetch order {order_id}: {exc}\nhint: {hint}", file=sys.stderr)
        return code
