"""Constant-time authentication of a hook: the custom secret header, then `Origin.Account`/`Origin.Key`.

VTEX's guidance (REFERENCE.md §5, sources/marketplace-order-hook.txt "Validate Webhook Authentication")
is to check both the payload's Origin and the custom header configured in `hook.headers`. The header
is checked first, from the request head alone, so an unauthenticated sender never gets its body
parsed beyond the size of a ping. Every comparison goes through `hmac.compare_digest` and visits all
configured secrets, so the time taken does not tell which account or secret came close.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from bridge.ingress.accounts import HookAccount

#: Reasons counted in metrics and logged; none contains a secret.
REASON_MISSING_HEADER: Final = "missing_header"
REASON_BAD_SECRET: Final = "bad_secret"
REASON_ORIGIN_MISMATCH: Final = "origin_mismatch"
AUTH_FAILURE_REASONS: Final = (REASON_MISSING_HEADER, REASON_BAD_SECRET, REASON_ORIGIN_MISMATCH)


def _bytes(value: str) -> bytes:
    # compare_digest refuses non-ASCII str; surrogatepass encodes every str, injectively.
    return value.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class _Credential:
    account: HookAccount
    header: str
    #: Never in a repr (a log line or a traceback's locals could show one).
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class HeaderCheck:
    """Which accounts the request's secret header matches (empty: unauthenticated, see `reason`)."""

    accounts: tuple[HookAccount, ...]
    reason: str | None

    @property
    def ok(self) -> bool:
        return bool(self.accounts)


class Authenticator:
    """Check requests against the configured accounts."""

    def __init__(self, accounts: Sequence[HookAccount]) -> None:
        self._accounts = tuple(accounts)
        self._credentials = tuple(
            _Credential(a, a.header, _bytes(s.get_secret_value())) for a in self._accounts for s in a.secrets
        )
        self.header_names: tuple[str, ...] = tuple(dict.fromkeys(a.header for a in self._accounts))

    @property
    def accounts(self) -> tuple[HookAccount, ...]:
        return self._accounts

    def check_header(self, headers: Mapping[str, str]) -> HeaderCheck:
        """Return the accounts whose secret the request's header carries (all secrets are compared)."""
        presented = {name: headers.get(name) for name in self.header_names}
        if all(v is None for v in presented.values()):
            return HeaderCheck((), REASON_MISSING_HEADER)
        matched: dict[int, HookAccount] = {}
        for credential in self._credentials:
            value = presented[credential.header]
            given = _bytes(value) if value is not None else b""
            if hmac.compare_digest(given, credential.secret) and value is not None:
                matched[id(credential.account)] = credential.account
        if not matched:
            return HeaderCheck((), REASON_BAD_SECRET)
        return HeaderCheck(tuple(matched.values()), None)

    @staticmethod
    def match_origin(candidates: Sequence[HookAccount], origin: object) -> HookAccount | None:
        """Return the candidate named by the payload's `Origin` (Account and Key), else None."""
        if not isinstance(origin, dict):
            return None
        account, key = origin.get("Account"), origin.get("Key")
        if not isinstance(account, str) or not isinstance(key, str):
            return None
        given_account, given_key = _bytes(account), _bytes(key)
        found: HookAccount | None = None
        for candidate in candidates:
            same_account = hmac.compare_digest(given_account, _bytes(candidate.account))
            same_key = hmac.compare_digest(given_key, _bytes(candidate.app_key))
            if same_account and same_key:
                found = candidate
        return found
