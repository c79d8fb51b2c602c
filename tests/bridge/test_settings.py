"""Settings come from the environment once, with safe defaults and masked secrets."""

from __future__ import annotations

import pytest

from bridge.settings import load_settings


class TestSettings:
    """One typed, frozen object; secrets never printed."""

    def test_defaults_are_local(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        settings = load_settings()
        assert settings.kafka_embedded
        assert settings.ingress_host == "127.0.0.1"
        assert settings.vtex_url() == "https://simaccount.vtexcommercestable.com.br"

    def test_ecosystem_names_without_prefix(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
        monkeypatch.setenv("VTEX_ACCOUNT", "mystore")
        monkeypatch.setenv("VTEX_APP_TOKEN", "tok-123")
        settings = load_settings()
        assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
        assert not settings.kafka_embedded
        assert settings.vtex_url() == "https://mystore.vtexcommercestable.com.br"
        assert settings.vtex_app_token.get_secret_value() == "tok-123"

    def test_prefixed_names(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_INGRESS_PORT", "9999")
        assert load_settings().ingress_port == 9999

    def test_secrets_are_masked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VTEX_APP_TOKEN", "tok-should-not-show")
        monkeypatch.setenv("VTEX_BRIDGE_HOOK_SECRET", "hook-should-not-show")
        settings = load_settings()
        text = repr(settings) + str(settings.public_view())
        assert "tok-should-not-show" not in text
        assert "hook-should-not-show" not in text

    def test_frozen(self) -> None:
        settings = load_settings()
        with pytest.raises(ValueError):
            settings.ingress_port = 1  # type: ignore[misc]

    def test_invalid_value_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_INGRESS_PORT", "not-a-port")
        with pytest.raises(ValueError):
            load_settings()
