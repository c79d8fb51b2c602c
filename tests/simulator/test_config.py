"""SimConfig comes from the `# --- Simulator` settings; fixtures and the CLI build on it."""

from __future__ import annotations

from bridge.settings import SIMULATOR_ACCOUNT, SIMULATOR_APP_KEY, SIMULATOR_APP_TOKEN, load_settings
from simulator.config import VTEX_DELIVERY_TIMEOUT_S, VTEX_RATE_LIMIT_PER_MINUTE, SimConfig


class TestFromSettings:
    """Settings fill the config; explicit overrides win; defaults are VTEX's documented values."""

    def test_defaults(self) -> None:
        config = SimConfig()
        assert (SIMULATOR_ACCOUNT, SIMULATOR_APP_KEY, SIMULATOR_APP_TOKEN) == (
            config.account,
            config.app_key,
            config.app_token,
        )
        assert VTEX_RATE_LIMIT_PER_MINUTE == config.rate_limit_per_minute == 6000
        assert VTEX_DELIVERY_TIMEOUT_S == config.delivery_timeout_s == 5.0
        assert config.allow_http_hooks is False

    def test_from_settings(self) -> None:
        settings = load_settings(
            sim_seed=9,
            sim_orders=12,
            sim_time_compression=1000.0,
            sim_allow_http_hooks=True,
            sim_duplicate_rate=0.1,
            vtex_account="acme",
            vtex_app_key="k",
            vtex_app_token="t",
        )
        config = SimConfig.from_settings(settings, reorder_rate=0.3)
        assert (9, 12, 1000.0, True, 0.1, 0.3) == (
            config.seed,
            config.orders,
            config.time_compression,
            config.allow_http_hooks,
            config.duplicate_rate,
            config.reorder_rate,
        )
        assert {"k": "t"} == config.credentials()
        assert "acme" == config.account

    def test_replace(self) -> None:
        assert 3 == SimConfig().replace(seed=3).seed


class TestValidation:
    """Out-of-range values are refused when the config is built, not when the simulator runs."""

    def test_invalid(self) -> None:
        import pytest

        for change in ({"duplicate_rate": 1.5}, {"time_compression": 0}, {"max_attempts": 0}, {"orders": -1}):
            with pytest.raises(ValueError):
                SimConfig(**change)  # type: ignore[arg-type]
