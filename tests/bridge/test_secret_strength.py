"""The strength rule for shared secrets (bridge.secret_strength): placeholders and weak values refused."""

from __future__ import annotations

import secrets

import pytest

from bridge.secret_strength import MIN_LENGTH, secret_problem, weak_secret_message
from bridge.settings import Settings


class TestSecretProblem:
    @pytest.mark.parametrize(
        "value",
        [
            "",
            "CHANGEME",
            "local-dev-hook-secret",  # the settings' public default (printed in the README)
            "x" * 40,
            "abababababababababababababab",
            "my-hook-value-CHANGEME-7Qm2xV9pLk4T",
            "replace-with-a-real-value-7Qm2xV9",
            "vtexappkey-mystore-EXAMPLE-1234567",
            "password-password-2024-qwertyuiop",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijkl",
        ],
    )
    def test_weak_values_are_refused(self, value: str) -> None:
        assert secret_problem(value) is not None

    def test_the_default_setting_is_refused(self) -> None:
        assert secret_problem(Settings().hook_secret.get_secret_value()) is not None

    @pytest.mark.parametrize("make", [lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(16)])
    def test_generated_values_pass(self, make: object) -> None:
        assert callable(make)
        refused = [v for v in (make() for _ in range(500)) if secret_problem(v) is not None]
        assert not refused

    def test_minimum_length(self) -> None:
        assert secret_problem("Qm2xV9pLk4TzR8wN3bHj5Jd"[: MIN_LENGTH - 1]) is not None
        assert secret_problem("Qm2xV9pLk4TzR8wN3bHj5Jd8") is None

    def test_message_names_the_variable_and_never_the_value(self) -> None:
        value = "CHANGEME"
        problem = secret_problem(value)
        assert problem is not None
        message = weak_secret_message("VTEX_BRIDGE_HOOK_SECRET", problem)
        assert "set VTEX_BRIDGE_HOOK_SECRET" in message and "VTEX_BRIDGE_PROFILE=dev" in message
        assert value not in message
