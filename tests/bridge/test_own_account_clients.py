"""The settings' own account gets the same clients as any registry account (`for_account`)."""

from __future__ import annotations

from bridge.settings import load_settings
from bridge.vtex.config_api import ConfigApiClient
from bridge.vtex.oms import OmsClient


def test_a_base_url_template_is_resolved_for_the_own_account() -> None:
    settings = load_settings(vtex_account="acme", vtex_base_url="http://127.0.0.1:8090/accounts/{account}")
    assert OmsClient.from_settings(settings)._base_url == "http://127.0.0.1:8090/accounts/acme"
    assert ConfigApiClient.from_settings(settings).account == "acme"
