"""Unit tests of the account registry: sources, base URLs, tokens, selection and masking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.accounts import AccountRegistry, AccountsConfigError
from bridge.settings import SIMULATOR_ACCOUNT, Settings, load_settings

BETA_SECRET = "beta-Hq7Lw2Zx9Rk4Tm8Vn3Bj"
OWN_SECRET = "current-Qm2xV9pLk4TzR8wN3bHj"


def write(path: Path, data: Any) -> Path:
    path.write_bytes(orjson.dumps(data))
    return path


def settings(**overrides: Any) -> Settings:
    return load_settings(kafka_embedded=False, **overrides)


def test_defaults_are_the_one_account_shortcut() -> None:
    registry = AccountRegistry.from_settings(settings())
    assert (SIMULATOR_ACCOUNT,) == registry.names()
    account = registry.default
    assert f"https://{SIMULATOR_ACCOUNT}.vtexcommercestable.com.br" == account.base_url
    assert 90.0 == account.oms_rate_limit_per_s
    assert 1 == len(registry) and registry.get("other") is None
    registry.require_app_tokens()


def test_file_extends_the_settings_account(tmp_path: Path) -> None:
    token_file = tmp_path / "beta.token"
    token_file.write_text("beta-token\n")
    file = write(
        tmp_path / "accounts.json",
        [
            {
                "account": "beta",
                "app_key": "vtexappkey-beta",
                "app_token_file": "beta.token",  # relative to the accounts file
                "secrets": [BETA_SECRET],
                "oms_rate_limit_per_s": 40,
                "base_url": "http://127.0.0.1:9/x/{account}/",
            },
            {"account": "gamma", "app_key": "vtexappkey-gamma", "app_token": "gamma-token"},
        ],
    )
    registry = AccountRegistry.from_settings(
        settings(vtex_account="acme", vtex_app_key="k", accounts_file=file, vtex_base_url="http://own")
    )
    assert ("acme", "beta", "gamma") == registry.names()
    assert "acme" == registry.default.name
    beta, gamma = registry.get("beta"), registry.get("gamma")
    assert beta is not None and gamma is not None
    assert "beta-token" == beta.app_token.get_secret_value()
    assert 40.0 == beta.oms_rate_limit_per_s
    assert "http://127.0.0.1:9/x/beta" == beta.base_url
    # A base URL without {account} is the settings' account's only.
    assert "http://own" == registry.default.base_url
    assert "https://gamma.vtexcommercestable.com.br" == gamma.base_url
    assert () == gamma.hook_secrets
    registry.require_app_tokens()
    with pytest.raises(AccountsConfigError, match=r"'gamma'.*no hook secret"):
        registry.require_hook_secrets()


def test_base_url_template_addresses_every_account(tmp_path: Path) -> None:
    file = write(tmp_path / "a.json", [{"account": "beta", "app_key": "k", "app_token": "t"}])
    registry = AccountRegistry.from_settings(
        settings(
            vtex_account="acme", accounts_file=file, vtex_base_url="http://127.0.0.1:8090/accounts/{account}"
        )
    )
    assert [
        "http://127.0.0.1:8090/accounts/acme",
        "http://127.0.0.1:8090/accounts/beta",
    ] == [a.base_url for a in registry]


def test_file_alone_serves_only_its_accounts(tmp_path: Path) -> None:
    """Without VTEX_ACCOUNT & co. set, the simulator's default account is not served next to a file."""
    file = write(tmp_path / "a.json", [{"account": "beta", "app_key": "k", "app_token": "t"}])
    for name in ("accounts_file", "hook_accounts_file"):
        registry = AccountRegistry.from_settings(settings(**{name: file}))
        assert ("beta",) == registry.names()
        assert "beta" == registry.default.name


def test_the_two_file_settings_must_agree(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", [])
    b = write(tmp_path / "b.json", [])
    with pytest.raises(AccountsConfigError, match="VTEX_BRIDGE_ACCOUNTS_FILE"):
        AccountRegistry.from_settings(settings(accounts_file=a, hook_accounts_file=b))
    with pytest.raises(AccountsConfigError, match="no VTEX account is configured"):
        AccountRegistry.from_settings(settings(accounts_file=a))


def test_own_token_file(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("from-file\nignored\n")
    registry = AccountRegistry.from_settings(settings(vtex_app_token_file=tmp_path / "t"))
    assert "from-file" == registry.default.app_token.get_secret_value()
    (tmp_path / "empty").write_text("")
    with pytest.raises(AccountsConfigError, match="VTEX_BRIDGE_VTEX_APP_TOKEN_FILE"):
        AccountRegistry.from_settings(settings(vtex_app_token_file=tmp_path / "empty"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"account": "b", "app_key": "k", "app_token": "t", "app_token_file": "f"}, "both"),
        ({"account": "b", "app_key": "k", "app_token_file": "missing"}, "cannot read"),
        ({"account": "b", "app_key": "k", "oms_rate_limit_per_s": 0}, "positive"),
        ({"account": "b", "app_key": "k", "oms_rate_limit_per_s": True}, "positive"),
        ({"account": "b", "app_key": "k", "base_url": "ftp://x"}, "http"),
        ({"account": "b", "app_key": "k", "app_token": ""}, "non-empty"),
        ({"account": "b", "app_key": "k", "secrets": []}, "one or two"),
        ({"account": "b", "app_key": ""}, "non-empty"),
        ({"account": "b.x", "app_key": "k"}, "host name"),
        ({"account": "b", "app_key": "k", "token": "t"}, "unknown keys"),
    ],
)
def test_bad_entries_name_the_entry(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    file = write(tmp_path / "a.json", [entry])
    with pytest.raises(AccountsConfigError, match=message) as caught:
        AccountRegistry.from_settings(settings(accounts_file=file))
    assert "entry 0" in str(caught.value)


def test_an_account_is_configured_once(tmp_path: Path) -> None:
    file = write(tmp_path / "a.json", [{"account": "acme", "app_key": "other", "app_token": "t"}])
    with pytest.raises(AccountsConfigError, match="'acme' is configured twice"):
        AccountRegistry.from_settings(settings(vtex_account="acme", accounts_file=file))


def test_missing_app_token_is_named(tmp_path: Path) -> None:
    file = write(tmp_path / "a.json", [{"account": "beta", "app_key": "k", "secrets": [BETA_SECRET]}])
    registry = AccountRegistry.from_settings(settings(accounts_file=file))
    with pytest.raises(AccountsConfigError, match=r"'beta'.*no app token"):
        registry.require_app_tokens()
    assert ("beta",) == tuple(a.name for a in registry.hook_accounts())


def test_hook_secrets_fail_closed_outside_dev(tmp_path: Path) -> None:
    file = write(tmp_path / "a.json", [{"account": "beta", "app_key": "k", "secrets": ["CHANGEME"]}])
    registry = AccountRegistry.from_settings(settings(accounts_file=file))
    with pytest.raises(AccountsConfigError, match="secret 1 of account 'beta'") as caught:
        registry.require_hook_secrets()
    assert "CHANGEME" not in str(caught.value)
    dev = AccountRegistry.from_settings(settings(accounts_file=file, profile="dev"))
    dev.require_hook_secrets()


def test_select(tmp_path: Path) -> None:
    file = write(tmp_path / "a.json", [{"account": "beta", "app_key": "k", "app_token": "t"}])
    registry = AccountRegistry.from_settings(settings(vtex_account="acme", accounts_file=file))
    assert ("acme",) == tuple(a.name for a in registry.select(None))
    assert ("beta",) == tuple(a.name for a in registry.select("beta"))
    assert ("acme", "beta") == tuple(a.name for a in registry.select(None, all_accounts=True))
    with pytest.raises(AccountsConfigError, match="unknown account 'zeta'; configured: acme, beta"):
        registry.select("zeta")
    with pytest.raises(AccountsConfigError, match="exclude"):
        registry.select("beta", all_accounts=True)


def test_secrets_never_show(tmp_path: Path) -> None:
    file = write(
        tmp_path / "a.json",
        [{"account": "beta", "app_key": "k", "app_token": "beta-token-value", "secrets": [BETA_SECRET]}],
    )
    registry = AccountRegistry.from_settings(
        settings(vtex_account="acme", hook_secret=OWN_SECRET, accounts_file=file)
    )
    shown = repr(list(registry)) + repr(registry) + orjson.dumps(registry.public_view()).decode()
    for secret in (BETA_SECRET, OWN_SECRET, "beta-token-value", "sim-app-token-not-a-secret"):
        assert secret not in shown
    view = registry.public_view()
    assert ["**********"] == view[1]["secrets"] and "**********" == view[1]["app_token"]
    assert [True, False] == [v["default"] for v in view]


def test_config_command_shows_accounts_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    file = write(
        tmp_path / "a.json",
        [{"account": "beta", "app_key": "k", "app_token": "beta-token-value", "secrets": [BETA_SECRET]}],
    )
    monkeypatch.setenv("VTEX_BRIDGE_ACCOUNTS_FILE", str(file))
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "beta-token-value" not in out and BETA_SECRET not in out
    assert ["beta"] == [a["account"] for a in orjson.loads(out)["accounts"]]
    write(file, [{"account": "beta"}])
    assert main(["config"]) == 2
    assert "entry 0" in orjson.loads(capsys.readouterr().out)["accounts_error"]


def test_acls_cover_per_account_status_topics(tmp_path: Path) -> None:
    from bridge.topics.acls import declared_acls

    file = write(tmp_path / "a.json", [{"account": "beta", "app_key": "k", "app_token": "t"}])
    config = settings(
        vtex_account="acme", accounts_file=file, status_topic_account_prefix="vtex.orders.{account}.status."
    )
    worker = {
        (a.operation, a.resource, a.pattern) for a in declared_acls(config) if a.principal == "User:worker"
    }
    for account in ("acme", "beta"):
        assert ("WRITE", f"vtex.orders.{account}.status.", "PREFIXED") in worker


def test_the_oms_client_of_the_settings_reads_the_token_file(tmp_path: Path) -> None:
    from bridge.vtex.oms import OmsClient

    (tmp_path / "t").write_text("from-file\n")
    client = OmsClient.from_settings(settings(vtex_app_token_file=tmp_path / "t"))
    assert "from-file" == client._headers["X-VTEX-API-AppToken"]
