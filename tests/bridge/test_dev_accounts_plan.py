"""`vtex-bridge dev --accounts N`: the plan's accounts file gives every service the simulator's accounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.accounts import AccountRegistry
from bridge.cli.dev.plan import DevError, children_settings, make_plan
from bridge.settings import load_settings


class TestPlan:
    """The primary stays the settings' account; the others come from a private file in the run dir."""

    def test_three_accounts(self, tmp_path: Path) -> None:
        plan = make_plan(load_settings(), "127.0.0.1:9092", tmp_path, 3)
        assert ["simaccount", "simaccount-2", "simaccount-3"] == plan.accounts
        assert plan.env["VTEX_BRIDGE_VTEX_BASE_URL"] == f"{plan.sim_url}/accounts/{{account}}"
        accounts_file = Path(plan.env["VTEX_BRIDGE_ACCOUNTS_FILE"])
        assert tmp_path == accounts_file.parent and 0o600 == accounts_file.stat().st_mode & 0o777
        registry = AccountRegistry.from_settings(children_settings(plan))
        assert tuple(plan.accounts) == registry.names()
        assert [f"{plan.sim_url}/accounts/{name}" for name in plan.accounts] == [a.base_url for a in registry]
        secrets = {a.hook_secrets[0].get_secret_value() for a in registry}
        assert 3 == len(secrets), "every account has its own hook secret"

    def test_one_account_keeps_the_plain_plan(self, tmp_path: Path) -> None:
        plan = make_plan(load_settings(), "127.0.0.1:9092", tmp_path)
        assert ["simaccount"] == plan.accounts and "VTEX_BRIDGE_ACCOUNTS_FILE" not in plan.env
        assert plan.sim_url == plan.env["VTEX_BRIDGE_VTEX_BASE_URL"]

    def test_real_accounts_are_refused(self, tmp_path: Path) -> None:
        settings = load_settings(vtex_account="acme", vtex_app_key="k", vtex_app_token="t")
        with pytest.raises(DevError, match="VTEX_BRIDGE_ACCOUNTS_FILE"):
            make_plan(settings, "127.0.0.1:9092", tmp_path, 2)
