"""Checks and helpers shared by both sources of accounts: base URLs, OMS budgets, token files.

Each refusal raises `AccountsConfigError` naming the variable or entry to fix, never a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from bridge.accounts.model import AccountsConfigError

ACCOUNT_PLACEHOLDER: Final = "{account}"


def real_base_url(name: str, environment: str) -> str:
    """Return VTEX's own base URL of an account."""
    return f"https://{name}.{environment}.com.br"


def resolve_base_url(configured: str, name: str) -> str:
    """Return `configured` with `{account}` replaced by `name`, without a trailing `/`."""
    return configured.replace(ACCOUNT_PLACEHOLDER, name).rstrip("/")


def check_base_url(url: str, where: str) -> None:
    """Refuse anything but an http(s) URL with something after the scheme (`where` names the place)."""
    if not url.startswith(("https://", "http://")) or len(url) <= len("https://"):
        raise AccountsConfigError(f"{where} must be an http(s) URL")


def positive_rate(value: object, where: str) -> float:
    """Return a positive calls-per-second budget (a bool or a non-number is refused, naming `where`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise AccountsConfigError(f"{where} must be a positive number of calls per second")
    return float(value)


def read_token_file(path: Path, where: str) -> str:
    """Return the first line of a token file (its content is never shown)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AccountsConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise AccountsConfigError(f"{where}: {path} is empty")
    return token
