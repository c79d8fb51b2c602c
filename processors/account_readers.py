"""Which OMS client reads an event's order, and whether OMS still accepts each account's credentials.

Each VTEX account has its own reader (one OMS client, pool and budget), its own outage rule
(`processors.failure_rule`: one account's outage is no reason to call another's failures isolated) and
its own halt flag (401/403: our credentials, so nothing is dead-lettered; consumption stops only once
every account is refused). An event of an account this worker does not know is never read with another
account's credentials: `reader` raises `Permanent("unknown-account")`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from bridge.accounts import UNKNOWN_ACCOUNT_LABEL
from bridge.events import InputEvent
from bridge.settings import Settings
from processors.failure_rule import FailureRule
from processors.metrics import ProcessorMetrics
from processors.outcomes import Permanent

log = logging.getLogger(__name__)

#: Dead-letter reason of an event whose account this worker does not know.
REASON_UNKNOWN_ACCOUNT = "unknown-account"


class OrderReader(Protocol):
    async def get_order(self, order_id: str) -> Mapping[str, Any]: ...


class _Evented(Protocol):
    @property
    def event(self) -> InputEvent | None: ...


class AccountReaders:
    """The readers, outage rules and halt flags of the configured accounts; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        readers: Mapping[str, OrderReader],
        default_account: str,
        metrics: ProcessorMetrics,
        *,
        rule: FailureRule | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._readers = dict(readers)
        #: The account of records without one.
        self.default = default_account
        self._metrics = metrics
        self._monotonic = monotonic
        #: The default account's outage rule.
        self.rule = rule or self._new_rule()
        self._rules: dict[str, FailureRule] = {default_account: self.rule}
        #: Accounts whose credentials OMS refuses at the moment.
        self._halted: set[str] = set()
        #: Set while some account is still accepted (the runtime stops pulling while it is clear).
        self.resumed = asyncio.Event()
        self.resumed.set()

    @property
    def halted(self) -> bool:
        """Whether OMS refuses every account's credentials (consumption stops)."""
        return bool(self._halted) and self._halted >= set(self._readers)

    @property
    def halted_accounts(self) -> list[str]:
        return sorted(self._halted)

    def label(self, account: str) -> str:
        """The metric label of an event's account: a configured one, else `_unknown` (bounded)."""
        account = account or self.default
        return account if account in self._readers else UNKNOWN_ACCOUNT_LABEL

    def account_of(self, batch: Iterable[_Evented]) -> str:
        """The account of a batch (one order of one account; invalid events: the default)."""
        for work in batch:
            if work.event is not None:
                return work.event.account or self.default
        return self.default

    def reader(self, account: str) -> OrderReader:
        """The reader of `account`; an unknown account's events are dead-lettered (`Permanent`)."""
        reader = self._readers.get(account)
        if reader is None:
            raise Permanent(
                REASON_UNKNOWN_ACCOUNT,
                f"account {account!r} is not configured in this worker (configured: "
                f"{', '.join(sorted(self._readers))}); not read with another account's credentials",
                {"account": account},
            )
        return reader

    def rule_of(self, account: str) -> FailureRule:
        """The outage rule of `account` (created on first use)."""
        rule = self._rules.get(account)
        if rule is None:
            rule = self._rules[account] = self._new_rule()
        return rule

    def _new_rule(self) -> FailureRule:
        return FailureRule(
            window_s=self._settings.worker_outage_window_s,
            min_success_ratio=self._settings.worker_outage_min_success_ratio,
            clock=self._monotonic,
        )

    def halt(self, account: str, exc: Exception) -> None:
        """OMS refused `account`'s credentials: flag it (metric, one critical log)."""
        if account not in self._halted:
            log.critical(
                "OMS refuses our credentials for an account; its events wait until they work again "
                "(nothing is dead-lettered for this; consumption stops once every account is refused)",
                extra={"account": account, "error": str(exc)},
            )
        self._halted.add(account)
        self._metrics.account_halted.labels(account).set(1)
        self._metrics.halted.set(1)
        if self.halted:
            self.resumed.clear()

    def served(self, account: str) -> None:
        """OMS answered for `account`: a read succeeded, so its credentials work (again)."""
        if account in self._halted:
            log.warning("OMS accepts our credentials again", extra={"account": account})
            self._halted.discard(account)
            self._metrics.account_halted.labels(account).set(0)
        if not self._halted:
            self._metrics.halted.set(0)
        self.resumed.set()
