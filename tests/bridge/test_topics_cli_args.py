"""`vtex-bridge topics` parses its four actions and their options (no broker needed)."""

from __future__ import annotations

import pytest

from bridge.cli import build_parser
from bridge.cli.commands import topics


class TestTopicsArguments:
    """Each action maps to its handler; reshard takes the partition count and optional bounds."""

    @pytest.mark.parametrize(
        ("action", "handler"),
        [("plan", topics.run_plan), ("apply", topics.run_apply), ("describe", topics.run_describe)],
    )
    def test_actions(self, action: str, handler: object) -> None:
        args = build_parser().parse_args(["topics", action, "--json"])
        assert (handler, True) == (args.func, args.json)

    def test_reshard(self) -> None:
        args = build_parser().parse_args(["topics", "reshard", "--partitions", "24", "--quiet-s", "5"])
        assert (topics.run_reshard, 24, 5.0, None) == (
            args.func,
            args.partitions,
            args.quiet_s,
            args.timeout_s,
        )

    def test_reshard_needs_a_count(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["topics", "reshard"])
        assert "--partitions" in capsys.readouterr().err

    def test_listed_in_help(self) -> None:
        assert "topics" in build_parser().format_help()
