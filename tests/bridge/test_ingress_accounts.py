"""Unit tests of the accounts configuration and the constant-time authenticator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.ingress.accounts import AccountsConfigError, load_accounts, read_accounts_file
from bridge.ingress.app import create_app
from bridge.ingress.auth import Authenticator
from bridge.ingress.state import AUTH_LOGS_PER_S, LogThrottle
from bridge.settings import Settings
from tests.support.ingress import (
    ACCOUNT,
    APP_KEY,
    HEADER,
    SECRET,
    FakeProducer,
    hook_payload,
    ingress_settings,
    metrics_text,
)

JSON = {"Content-Type": "application/json"}
#: Secrets strong enough for the production profile.
BETA, BETA_OLD = "beta-Hq7Lw2Zx9Rk4Tm8Vn3Bj", "beta-old-Pd5Fs1Gy6Kc8Mn4Vx2Q"
GAMMA = "gamma-Wr3Et7Yu1Io9Pa5Sd2Fg"


def write(path: Path, data: Any) -> Path:
    path.write_bytes(orjson.dumps(data))
    return path


class TestAccountsFile:
    """The accounts file adds accounts with their own header and one or two secrets."""

    def test_settings_account_and_file_accounts(self, tmp_path: Path) -> None:
        file = write(
            tmp_path / "accounts.json",
            [
                {"account": "beta", "app_key": "vtexappkey-beta", "secrets": [BETA, BETA_OLD]},
                {"account": "gamma", "app_key": "vtexappkey-gamma", "header": "X-Gamma", "secrets": [GAMMA]},
            ],
        )
        accounts = load_accounts(ingress_settings(hook_accounts_file=file))
        assert [ACCOUNT, "beta", "gamma"] == [a.account for a in accounts]
        assert [HEADER, HEADER, "X-Gamma"] == [a.header for a in accounts]
        assert [2, 2, 1] == [len(a.secrets) for a in accounts]

    def test_file_only(self, tmp_path: Path) -> None:
        file = write(tmp_path / "a.json", [{"account": "beta", "app_key": "k", "secrets": [BETA]}])
        accounts = load_accounts(
            ingress_settings(hook_secret="", hook_secret_previous="", hook_accounts_file=file)
        )
        assert ["beta"] == [a.account for a in accounts]

    @pytest.mark.parametrize(
        "data",
        [
            {"account": "x"},
            [{"account": "x", "app_key": "k", "secrets": []}],
            [{"account": "x", "app_key": "k", "secrets": ["a", "b", "c"]}],
            [{"account": "x", "app_key": "k", "secrets": [""]}],
            [{"account": "", "app_key": "k", "secrets": ["s"]}],
            [{"account": "x", "app_key": "k", "secrets": "s"}],
            [{"account": "x", "app_key": "k", "secrets": ["s"], "typo": 1}],
            [{"account": ACCOUNT, "app_key": APP_KEY, "secrets": ["s"]}],
            [{"account": "evil.example/x", "app_key": "k", "secrets": [BETA]}],
            ["x"],
        ],
    )
    def test_bad_files_are_refused(self, tmp_path: Path, data: Any) -> None:
        file = write(tmp_path / "bad.json", data)
        with pytest.raises(AccountsConfigError) as caught:
            load_accounts(ingress_settings(hook_accounts_file=file))
        assert SECRET not in str(caught.value)

    def test_unreadable_and_not_json(self, tmp_path: Path) -> None:
        with pytest.raises(AccountsConfigError):
            read_accounts_file(tmp_path / "missing.json", HEADER)
        (tmp_path / "x.json").write_text("{")
        with pytest.raises(AccountsConfigError):
            read_accounts_file(tmp_path / "x.json", HEADER)

    def test_no_account_at_all(self) -> None:
        with pytest.raises(AccountsConfigError):
            load_accounts(ingress_settings(hook_secret="", hook_secret_previous=""))


class TestFailClosed:
    """Outside the dev profile a weak, placeholder or default secret stops the ingress from starting."""

    @pytest.mark.parametrize(
        ("overrides", "variable"),
        [
            ({"hook_secret": "local-dev-hook-secret"}, "VTEX_BRIDGE_HOOK_SECRET"),
            ({"hook_secret": "CHANGEME"}, "VTEX_BRIDGE_HOOK_SECRET"),
            ({"hook_secret_previous": "changeme-changeme-changeme"}, "VTEX_BRIDGE_HOOK_SECRET_PREVIOUS"),
        ],
    )
    def test_weak_settings_secret_is_refused(self, overrides: dict[str, str], variable: str) -> None:
        with pytest.raises(AccountsConfigError) as caught:
            load_accounts(ingress_settings(**overrides))
        message = str(caught.value)
        assert f"set {variable} to at least 24 random characters" in message
        assert all(value not in message for value in overrides.values())

    def test_default_settings_are_refused(self) -> None:
        """The secret the README prints (the settings' default) opens nothing in production."""
        settings = ingress_settings(hook_secret=Settings().hook_secret, hook_secret_previous="")
        assert settings.profile == "production"
        with pytest.raises(AccountsConfigError, match="VTEX_BRIDGE_HOOK_SECRET"):
            create_app(settings, producer=FakeProducer())

    def test_weak_file_secret_is_refused_naming_the_entry(self, tmp_path: Path) -> None:
        entry = {"account": "beta", "app_key": "k", "secrets": [BETA, "CHANGEME"]}
        file = write(tmp_path / "a.json", [entry])
        with pytest.raises(AccountsConfigError) as caught:
            load_accounts(ingress_settings(hook_accounts_file=file))
        assert "secret 2 of account 'beta'" in str(caught.value)
        assert "CHANGEME" not in str(caught.value)

    def test_dev_profile_accepts_with_a_warning(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level("WARNING"):
            accounts = load_accounts(ingress_settings(profile="dev", hook_secret="local-dev-hook-secret"))
        assert [ACCOUNT] == [a.account for a in accounts]
        warned = [r for r in caplog.records if "weak hook secret" in r.getMessage()]
        assert warned and "local-dev-hook-secret" not in caplog.text


class TestAuthenticator:
    """Each account is matched only with its own header, secret, account name and app key."""

    @pytest.fixture
    def authenticator(self, tmp_path: Path) -> Authenticator:
        file = write(
            tmp_path / "accounts.json",
            [{"account": "beta", "app_key": "vtexappkey-beta", "header": "X-Beta", "secrets": [BETA]}],
        )
        return Authenticator(load_accounts(ingress_settings(hook_accounts_file=file)))

    def test_header_selects_the_account(self, authenticator: Authenticator) -> None:
        check = authenticator.check_header({"X-Beta": BETA})
        assert ["beta"] == [a.account for a in check.accounts]
        assert check.accounts[0] is authenticator.match_origin(
            check.accounts, {"Account": "beta", "Key": "vtexappkey-beta"}
        )

    def test_secret_of_one_account_does_not_open_another(self, authenticator: Authenticator) -> None:
        check = authenticator.check_header({"X-Beta": BETA})
        assert authenticator.match_origin(check.accounts, {"Account": ACCOUNT, "Key": APP_KEY}) is None

    def test_secret_under_the_wrong_header(self, authenticator: Authenticator) -> None:
        assert not authenticator.check_header({HEADER: BETA}).ok

    def test_reprs_hold_no_secret(self, authenticator: Authenticator) -> None:
        shown = repr(authenticator._credentials) + repr(authenticator.accounts)
        assert SECRET not in shown and BETA not in shown
        assert "account='beta'" in shown  # the rest still helps debugging

    def test_non_ascii_values_do_not_crash(self, authenticator: Authenticator) -> None:
        assert not authenticator.check_header({HEADER: "sécret\udcff"}).ok
        assert authenticator.match_origin(authenticator.accounts, {"Account": "ä\ud800", "Key": "k"}) is None


class TestSeveralAccountsOverHttp:
    """Two accounts with their own headers both get through the real app."""

    async def test_both(self, aiohttp_client: Any, tmp_path: Path) -> None:
        file = write(
            tmp_path / "accounts.json",
            [{"account": "beta", "app_key": "vtexappkey-beta", "header": "X-Beta", "secrets": [BETA]}],
        )
        producer = FakeProducer()
        app: web.Application = create_app(ingress_settings(hook_accounts_file=file), producer=producer)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        beta = hook_payload(order_id="b-1", Origin={"Account": "beta", "Key": "vtexappkey-beta"})
        statuses = [
            (
                await client.post(
                    "/hooks/vtex", data=orjson.dumps(hook_payload()), headers={HEADER: SECRET, **JSON}
                )
            ).status,
            (
                await client.post("/hooks/vtex", data=orjson.dumps(beta), headers={"X-Beta": BETA, **JSON})
            ).status,
            (
                await client.post("/hooks/vtex", data=orjson.dumps(beta), headers={HEADER: SECRET, **JSON})
            ).status,
        ]
        assert [200, 200, 401] == statuses
        assert [b"v1000001abc-01", b"b-1"] == [r.key for r in producer.records]
        text = await metrics_text(client.app)
        for account in (ACCOUNT, "beta"):  # per-account counts of accepted hooks
            assert f'vtex_bridge_ingress_account_hooks_total{{account="{account}"}} 1.0' in text


class TestAuthFailureLogThrottle:
    """A flood of unauthorized hooks is counted in full but logged at most AUTH_LOGS_PER_S per second."""

    def test_throttle(self) -> None:
        throttle = LogThrottle(per_s=2)
        decisions = [throttle.allow(now) for now in (10.0, 10.1, 10.2, 10.3, 11.0, 11.5, 11.6)]
        assert [(True, 0), (True, 0), (False, 0), (False, 0), (True, 2), (True, 0), (False, 0)] == decisions

    async def test_flood(self, aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(ingress_settings(), producer=FakeProducer())
        )
        with caplog.at_level("WARNING"):
            for _ in range(6 * AUTH_LOGS_PER_S):
                response = await client.post("/hooks/vtex", data=b"{}", headers={HEADER: "wrong", **JSON})
                assert 401 == response.status
        logged = [r for r in caplog.records if r.getMessage() == "hook unauthorized"]
        text = await metrics_text(client.app)
        assert f'vtex_bridge_ingress_requests_total{{outcome="unauthorized"}} {6 * AUTH_LOGS_PER_S}.0' in text
        assert len(logged) <= 3 * AUTH_LOGS_PER_S  # the loop may straddle a second boundary or two
