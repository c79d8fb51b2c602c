"""Routing: which downstream topic an event's state goes to.

Every known status (`bridge.statuses.KNOWN_STATUSES`) has a topic `<prefix><status>` unless a configured
group (`worker_route_groups`, JSON `{"group": ["status", ...]}`) collects it into `<prefix><group>`.
Unknown statuses, "" and "null" go to `<prefix>unknown`: logged by the caller, never a crash.

Per-account topics (optional, `status_topic_account_prefix`, e.g. `vtex.orders.{account}.status.`):
each account of the registry gets the same set of topics under its own prefix, for teams that want one
topic per store. By default every account shares the status topics; the record's `account` field and
header tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from bridge.accounts import ACCOUNT_PLACEHOLDER, AccountRegistry, AccountsConfigError
from bridge.settings import Settings
from bridge.statuses import KNOWN_STATUSES, UNKNOWN_STATUS

#: Characters Kafka allows in a topic name besides letters and digits.
_TOPIC_PUNCTUATION: Final = "._-"


class RoutingConfigError(ValueError):
    """The configured groups are inconsistent (a status in two groups, or an unknown status)."""


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the suffix: a status, a group name or "unknown"
    topic: str
    known: bool


class Router:
    """Map states to routes; built once from settings, immutable."""

    def __init__(
        self,
        prefix: str,
        groups: Mapping[str, Sequence[str]] | None = None,
        *,
        account_prefix: str = "",
        accounts: Sequence[str] = (),
    ) -> None:
        """`account_prefix` (holding `{account}`) gives each of `accounts` its own topics; "" = shared."""
        self._prefix = prefix
        if account_prefix and ACCOUNT_PLACEHOLDER not in account_prefix:
            raise RoutingConfigError(
                f"status_topic_account_prefix {account_prefix!r} must contain {ACCOUNT_PLACEHOLDER}"
            )
        if account_prefix and not accounts:
            raise RoutingConfigError("per-account status topics need at least one account")
        #: account -> its topics' prefix (empty: every account shares `prefix`).
        self._account_prefixes = {
            account: _topic_prefix(account_prefix.replace(ACCOUNT_PLACEHOLDER, account))
            for account in (accounts if account_prefix else ())
        }
        suffix_of: dict[str, str] = {status: status for status in KNOWN_STATUSES}
        owner: dict[str, str] = {}
        for group, statuses in (groups or {}).items():
            if not group or group == UNKNOWN_STATUS:
                raise RoutingConfigError(f"invalid route group name {group!r}")
            for status in statuses:
                if status not in suffix_of:
                    raise RoutingConfigError(f"route group {group!r} names unknown status {status!r}")
                if status in owner:
                    raise RoutingConfigError(
                        f"status {status!r} is in groups {owner[status]!r} and {group!r}"
                    )
                owner[status] = group
                suffix_of[status] = group
        self._suffix_of = suffix_of

    @property
    def per_account(self) -> bool:
        return bool(self._account_prefixes)

    def prefixes(self) -> list[str]:
        """Return the prefix of every downstream topic (one per account with per-account topics)."""
        return sorted(set(self._account_prefixes.values())) if self._account_prefixes else [self._prefix]

    def route(self, state: str | None, account: str = "") -> Route:
        """Route `state`; with per-account topics `account` (a configured one) picks the prefix."""
        prefix = self._account_prefixes.get(account, self._prefix) if self._account_prefixes else self._prefix
        suffix = self._suffix_of.get(state or "")
        if suffix is None:
            return Route(UNKNOWN_STATUS, prefix + UNKNOWN_STATUS, known=False)
        return Route(suffix, prefix + suffix, known=True)

    def topics(self) -> list[str]:
        """Return every downstream topic, sorted (for creating them at startup)."""
        suffixes = {*self._suffix_of.values(), UNKNOWN_STATUS}
        return sorted(prefix + suffix for prefix in self.prefixes() for suffix in suffixes)


def router_for(settings: Settings, accounts: Sequence[str] | None = None) -> Router:
    """Return the router of `settings`; per-account topics name `accounts` (default: the registry's).

    Raises `RoutingConfigError` when the groups or the per-account prefix are unusable.
    """
    account_prefix = settings.status_topic_account_prefix
    if account_prefix and accounts is None:
        try:
            accounts = AccountRegistry.from_settings(settings).names()
        except AccountsConfigError as exc:
            raise RoutingConfigError(f"per-account status topics: {exc}") from None
    return Router(
        settings.status_topic_prefix,
        settings.worker_route_groups,
        account_prefix=account_prefix,
        accounts=accounts or (),
    )


def _topic_prefix(prefix: str) -> str:
    """Refuse a per-account prefix Kafka cannot name topics with (account names are safe already)."""
    if not all(c.isascii() and (c.isalnum() or c in _TOPIC_PUNCTUATION) for c in prefix):
        raise RoutingConfigError(
            f"status topic prefix {prefix!r} may hold only letters, digits, '.', '_', '-'"
        )
    return prefix
