"""What one account's feed poller needs from the settings, checked against VTEX's limits up front."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.settings import Settings
from bridge.vtex.config_models import MAX_LOT

if TYPE_CHECKING:
    from bridge.accounts import Account


@dataclass(frozen=True, slots=True)
class PollerConfig:
    """What the poller needs from the settings."""

    input_topic: str
    dead_letter_topic: str
    account: str
    app_key: str
    maxlot: int = MAX_LOT
    idle_s: float = 2.0
    rate_per_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    produce_timeout_s: float = 10.0
    #: Lots in flight at most while the feed has a backlog (1 = the strict one-lot-at-a-time pace).
    max_concurrency: int = 1
    #: Seconds between reads of the backlog (feed configuration's quantity and oldest age); 0 = never.
    backlog_interval_s: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.maxlot <= MAX_LOT:
            raise ValueError(
                f"feed_poll_maxlot must be within 1..{MAX_LOT} (VTEX's limit), got {self.maxlot}"
            )
        if self.max_concurrency < 1:
            raise ValueError(f"feed_poll_max_concurrency must be at least 1, got {self.max_concurrency}")

    @classmethod
    def from_settings(cls, settings: Settings, account: Account | None = None) -> PollerConfig:
        """Return the configuration of polling `account`'s feed (default: the settings' own account)."""
        return cls(
            input_topic=settings.input_topic,
            dead_letter_topic=settings.dead_letter_topic,
            account=settings.vtex_account if account is None else account.name,
            app_key=settings.vtex_app_key if account is None else account.app_key,
            maxlot=settings.feed_poll_maxlot,
            idle_s=settings.feed_poll_idle_s,
            rate_per_s=settings.feed_poll_rate_per_s,
            backoff_initial_s=settings.feed_poll_backoff_initial_s,
            backoff_max_s=settings.feed_poll_backoff_max_s,
            produce_timeout_s=settings.feed_poll_produce_timeout_s,
            max_concurrency=settings.feed_poll_max_concurrency,
            backlog_interval_s=settings.feed_poll_backlog_interval_s,
        )
