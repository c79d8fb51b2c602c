"""The command line answers --help and reports bad configuration with exit code 2."""

from __future__ import annotations

import pytest

from bridge.cli import build_parser, is_service, main
from bridge.log import cli_log_level


class TestCli:
    """`vtex-bridge` lists every sub-command and fails clearly."""

    def test_subcommands_listed(self) -> None:
        help_text = build_parser().format_help()
        for command in ("dev", "ingress", "worker", "sim", "kafka", "config"):
            assert command in help_text

    def test_bad_configuration_exit_code(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_INGRESS_PORT", "nope")
        assert main(["config"]) == 2
        assert "invalid configuration" in capsys.readouterr().err

    def test_config_masks_secrets(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("VTEX_APP_TOKEN", "very-secret-token")
        assert main(["config"]) == 0
        out = capsys.readouterr().out
        assert "very-secret-token" not in out
        assert "vtex_app_token" in out

    def test_one_shot_commands_log_at_warning_unless_asked(self) -> None:
        parser = build_parser()
        services = [["worker"], ["ingress"], ["sim"], ["feed", "poll"]]
        tools = [["replay"], ["topics", "describe"], ["feed", "show"], ["order", "1368540712345-01"]]
        assert [True] * 4 == [is_service(parser.parse_args(argv)) for argv in services]
        assert [False] * 4 == [is_service(parser.parse_args(argv)) for argv in tools]
        assert ("WARNING", "DEBUG", "INFO") == (
            cli_log_level("INFO", explicit=False, service=False),
            cli_log_level("DEBUG", explicit=True, service=False),
            cli_log_level("INFO", explicit=False, service=True),
        )
