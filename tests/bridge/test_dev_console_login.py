"""`vtex-bridge dev` (`make run`) gives its workers a console login: a token generated for the run, shown
as a link that logs in, or the operator's own token, never printed."""

from __future__ import annotations

from pathlib import Path

from bridge.cli.dev.plan import make_plan
from bridge.secret_strength import secret_problem
from bridge.settings import load_settings


class TestDevConsoleLogin:
    """The plan carries one token for every worker and the console link the live view prints."""

    def test_generated_token(self, tmp_path: Path) -> None:
        plan = make_plan(load_settings(dev_workers=2), "127.0.0.1:1", tmp_path)
        assert plan.console_token_generated
        assert None is secret_problem(plan.console_token)  # would pass the production rule too
        assert 2 == len(plan.console_ports)
        port = plan.console_ports[0]
        assert f"http://127.0.0.1:{port}/console#token={plan.console_token}" == plan.console_url(port)
        other = make_plan(load_settings(), "127.0.0.1:1", tmp_path)
        assert other.console_token != plan.console_token  # one per run

    def test_configured_token_is_used_and_not_shown(self, tmp_path: Path) -> None:
        token = "Zr4Kp8Wd2Qn6Tx1Vb9Mc3Ls7"
        plan = make_plan(load_settings(console_admin_token=token), "127.0.0.1:1", tmp_path)
        assert (token, False) == (plan.console_token, plan.console_token_generated)
        port = plan.console_ports[0]
        assert token not in plan.console_url(port)
