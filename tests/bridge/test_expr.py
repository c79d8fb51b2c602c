"""FromOrders expressions are evaluated locally like VTEX does, from a file or an order fetched from OMS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.expressions import ExpressionEvaluationError, ExpressionSyntaxError, compile_expression, is_truthy
from bridge.vtex.config_models import EXIT_AUTH, EXIT_BAD_REQUEST, EXIT_NOT_FOUND
from simulator.server import SimHandle
from testkit.cli import cli

EXAMPLE_ORDER = Path(__file__).resolve().parents[2] / "simulator" / "data" / "example-order.json"


class TestExpressions:
    """JSONata results are cast to a match the way VTEX's filter does."""

    @pytest.mark.parametrize(
        ("expression", "matches"),
        [
            ('status = "ready-for-handling"', True),
            ('status = "invoiced"', False),
            ("$count(items[price >= 1000]) > 0", True),
            ("$count(items[name ~> /.*refrigerator.*/i]) > 0", False),
            ("isAllDelivered = true", False),  # an absent field is undefined: no match
            ('(status = "ready-for-handling" and salesChannel = "1")', True),
        ],
    )
    def test_guide_examples_on_the_example_order(self, expression: str, matches: bool) -> None:
        order = json.loads(EXAMPLE_ORDER.read_text())
        assert matches == compile_expression(expression).evaluate(order).matches

    @pytest.mark.parametrize(
        ("value", "truthy"), [(0, False), ("", False), ([], False), (None, False), (2, True)]
    )
    def test_truthiness(self, value: object, truthy: bool) -> None:
        assert truthy == is_truthy(value)

    def test_syntax_error_names_position(self) -> None:
        with pytest.raises(ExpressionSyntaxError) as caught:
            compile_expression('status = "x" and')
        assert caught.value.code is not None and caught.value.code.startswith("S")
        with pytest.raises(ExpressionSyntaxError):
            compile_expression("   ")

    def test_evaluation_error(self) -> None:
        with pytest.raises(ExpressionEvaluationError):
            compile_expression('"a" + 1').evaluate({})


class TestExprCommand:
    """`expr test` prints the result and the match, exits like grep, and explains every failure."""

    async def test_file_match_and_no_match(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = await cli(capsys, "expr", "test", "items.price", "--order", str(EXAMPLE_ORDER))
        assert 0 == code
        assert "result: [\n  12990,\n  4590\n]" in out and "match: yes" in out
        code, out, _ = await cli(capsys, "expr", "test", 'status = "invoiced"', "--order", str(EXAMPLE_ORDER))
        assert 1 == code and "result: false" in out and "match: no" in out

    async def test_syntax_and_evaluation_errors(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = await cli(capsys, "expr", "test", "status = ", "--order", str(EXAMPLE_ORDER))
        assert (EXIT_BAD_REQUEST, "") == (code, out)
        assert "syntax error (S0207)" in err and "position 9" in err
        code, _, err = await cli(capsys, "expr", "test", '"a" + 1', "--order", str(EXAMPLE_ORDER))
        assert EXIT_BAD_REQUEST == code and "evaluation failed" in err

    async def test_unreadable_order_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        broken = tmp_path / "order.json"
        broken.write_text("{not json")
        code, _, err = await cli(capsys, "expr", "test", "status", "--order", str(broken))
        assert 2 == code and "is not JSON" in err
        code, _, err = await cli(capsys, "expr", "test", "status", "--order", str(tmp_path / "missing.json"))
        assert 2 == code and "cannot read" in err

    async def test_order_fetched_from_oms(
        self, sim: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_VTEX_BASE_URL", sim.base_url)
        transitions = list(sim.workload(orders=1).transitions())
        for transition in transitions:
            sim.emit(transition)
        order_id = transitions[0].order_id
        status = sim.store.orders[order_id]["status"]
        code, out, _ = await cli(capsys, "expr", "test", f'status = "{status}"', "--order-id", order_id)
        assert 0 == code and "match: yes" in out and order_id in out
        code, _, err = await cli(capsys, "expr", "test", "status", "--order-id", "v0000000nope-01")
        assert EXIT_NOT_FOUND == code and "not found" in err
        monkeypatch.setenv("VTEX_APP_TOKEN", "bad-token-xyz")
        code, out, err = await cli(capsys, "expr", "test", "status", "--order-id", order_id)
        assert EXIT_AUTH == code and "bad-token-xyz" not in out + err
