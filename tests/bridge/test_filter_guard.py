"""The never-narrow-silently rule shared by `hook set|ensure` and `feed set` (`filter_guard`)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bridge.accounts import Account
from bridge.cli.commands.filter_guard import configured_filter, refused_narrowing
from bridge.vtex.config_models import OrdersFilter, WorkflowFilter
from bridge.vtex.filter_scope import EVERY_CHANGE

ACCOUNT = Account(
    name="storea",
    app_key="key",
    app_token=SecretStr("token"),
    hook_header="X-Secret",
    hook_secrets=(),
    oms_rate_limit_per_s=1.0,
    base_url="http://127.0.0.1",
)
WIDE = {"filter": {"type": "FromWorkflow", "status": ["handling", "invoiced", "canceled"]}}
NARROW = WorkflowFilter(("invoiced",))


class TestConfiguredFilter:
    """Nothing configured, or a filter the CLI cannot read, gives nothing to compare with."""

    def test_absent_or_unreadable(self) -> None:
        assert configured_filter(None) is None
        assert configured_filter({"filter": {"type": "Mystery"}}) is None
        assert configured_filter({"queue": {}}) is None

    def test_read(self) -> None:
        assert WorkflowFilter(("handling", "invoiced", "canceled")) == configured_filter(WIDE)


class TestRefusedNarrowing:
    """Narrowing is refused unless replacing was asked for; the difference is printed either way."""

    def test_refused_names_what_is_lost(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert refused_narrowing("feed set", "feed", ACCOUNT, WIDE, NARROW, replace=False)
        err = capsys.readouterr().err
        assert "account storea: refusing to replace a feed filter that notifies more:" in err
        assert "no longer notified: status(es) handling, canceled" in err
        assert "vtex-bridge feed set: account storea: the desired filter would stop" in err
        assert "pass --replace-filter" in err

    def test_replace_prints_but_passes(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert not refused_narrowing("hook set", "hook", ACCOUNT, WIDE, NARROW, replace=True)
        err = capsys.readouterr().err
        assert "account storea: replacing a hook filter that notifies more:" in err
        assert "pass --replace-filter" not in err

    @pytest.mark.parametrize(
        "desired",
        [
            WorkflowFilter(("canceled", "invoiced", "handling")),  # equal, other order
            WorkflowFilter(("handling", "invoiced", "canceled", "ready-for-handling")),  # wider
            EVERY_CHANGE,
        ],
    )
    def test_equal_or_wider_passes_silently(
        self, desired: WorkflowFilter | OrdersFilter, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert not refused_narrowing("feed set", "feed", ACCOUNT, WIDE, desired, replace=False)
        assert not refused_narrowing("feed set", "feed", ACCOUNT, None, NARROW, replace=False)
        assert "" == capsys.readouterr().err
