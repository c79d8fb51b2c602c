"""Everything tunable about the simulator in one frozen value (`SimConfig`).

The CLI builds it from the settings (`SimConfig.from_settings`), tests build it directly or through the
`sim_factory` fixture. Values that chaos runs flip while the simulator runs (latency, error rates,
duplicate/reorder rates) start from here and then live in `simulator.controls.Controls`.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.identifiers import account_name_problem
from bridge.settings import SIMULATOR_ACCOUNT, SIMULATOR_APP_KEY, SIMULATOR_APP_TOKEN

if TYPE_CHECKING:
    from bridge.settings import Settings

#: VTEX drops an undeliverable hook event after more than 100 attempts over about 4 days (REFERENCE §5).
VTEX_MAX_ATTEMPTS = 100
VTEX_MAX_RETRY_AGE_S = 4 * 24 * 3600.0
#: Geometric back-off: 1 s, 1.11 s, 1.23 s ... sums to ~3.9 days over 100 attempts, matching the docs.
VTEX_RETRY_BASE_S = 1.0
VTEX_RETRY_FACTOR = 1.11
#: The receiver must answer 200 within 5,000 ms (REFERENCE §5); this stays real time.
VTEX_DELIVERY_TIMEOUT_S = 5.0
#: A hook without notifications for 3 days is deleted (REFERENCE §5).
VTEX_HOOK_INACTIVITY_S = 3 * 24 * 3600.0
#: Get order throttling: 6000 requests per minute per account (REFERENCE §1).
VTEX_RATE_LIMIT_PER_MINUTE = 6000


@dataclass(frozen=True, slots=True)
class SimAccount:
    """One more VTEX account the simulator serves beside the primary one, under `/accounts/{name}/`.

    Each account is a whole simulated VTEX account (orders, hook, feed, rate limit, chaos knobs), as a
    brand with one account per country has; `SimConfig.for_account` gives its configuration.
    """

    name: str
    app_key: str
    app_token: str
    #: Requests per minute per API family; None = the simulator's `rate_limit_per_minute`.
    rate_limit_per_minute: int | None = None
    #: Seed of this account's orders; None = derived from the simulator's seed and the name, so the
    #: accounts' order ids and documents differ.
    seed: int | None = None

    @classmethod
    def made_up(cls, name: str) -> SimAccount:
        """Return the account `name` with the simulator's made-up credentials for it (not secrets)."""
        return cls(name, f"vtexappkey-{name}-BRIDGE", f"sim-app-token-{name}-not-a-secret")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Configuration of one simulator instance; every duration is in seconds."""

    seed: int = 42
    account: str = SIMULATOR_ACCOUNT
    app_key: str = SIMULATOR_APP_KEY
    app_token: str = SIMULATOR_APP_TOKEN
    #: More (appKey, appToken) pairs accepted besides the main one: each may own a hook and a feed.
    extra_credentials: tuple[tuple[str, str], ...] = ()
    #: Further accounts served in the same process under `/accounts/{name}/` (the primary one, above,
    #: is served at the root and under `/accounts/{account}/` too).
    accounts: tuple[SimAccount, ...] = ()
    #: Orders of the default workload (`vtex-bridge sim` drives them; 0 = none).
    orders: int = 0
    #: Lifecycle transitions emitted per second when driving a workload (0 = as fast as possible).
    rate_per_s: float = 10.0
    #: Fixed ISO-8601 start of the workload's clock; None = the wall clock when the simulator starts.
    start_time: str | None = None
    # OMS chaos (initial values of the runtime controls)
    oms_latency_s: float = 0.0
    oms_429_rate: float = 0.0
    oms_5xx_rate: float = 0.0
    oms_timeout_rate: float = 0.0
    #: How long a simulated OMS timeout hangs before answering 504 (real time).
    oms_timeout_hang_s: float = 30.0
    #: Requests per minute per account and API family (oms, config, feed); 0 = unlimited.
    rate_limit_per_minute: int = VTEX_RATE_LIMIT_PER_MINUTE
    #: VTEX seconds per real second for back-off, visibility, retention and inactivity.
    time_compression: float = 1.0
    #: Accept plain-http hook URLs on loopback hosts (VTEX itself accepts https only).
    allow_http_hooks: bool = False
    #: Further host names whose plain-http hook URLs are accepted, e.g. the ingress's service name in a
    #: compose network. Named one by one, so the https rule stays VTEX's for every other host.
    allow_http_hook_hosts: tuple[str, ...] = ()
    # Hook sender
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    delivery_timeout_s: float = VTEX_DELIVERY_TIMEOUT_S
    ping_timeout_s: float = VTEX_DELIVERY_TIMEOUT_S
    max_attempts: int = VTEX_MAX_ATTEMPTS
    max_retry_age_s: float = VTEX_MAX_RETRY_AGE_S
    retry_base_s: float = VTEX_RETRY_BASE_S
    retry_factor: float = VTEX_RETRY_FACTOR
    #: Deliveries in flight at once, over all orders.
    max_concurrent_deliveries: int = 64
    #: Delivery records kept for `/_sim/deliveries` and `/_sim/accepted` (the newest; counts cover all).
    delivery_records: int = 50_000
    #: Orders the account holds at most (0 = no bound): past it the oldest-created order is forgotten
    #: (Get order answers 404 for it), so a simulator driving orders for hours stays within a memory
    #: bound (~46 KB per order document).
    max_orders: int = 0
    hook_inactivity_s: float = VTEX_HOOK_INACTIVITY_S
    #: `Domain` of notifications and feed items: Marketplace or Fulfillment.
    domain: str = "Marketplace"
    #: Mix of lifecycle kinds for generated workloads (kind -> weight); empty = the default mix.
    mix: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("oms_429_rate", "oms_5xx_rate", "oms_timeout_rate", "duplicate_rate", "reorder_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("oms_latency_s", "oms_timeout_hang_s", "rate_per_s", "retry_base_s", "max_retry_age_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.orders < 0 or self.rate_limit_per_minute < 0:
            raise ValueError("orders and rate_limit_per_minute must not be negative")
        if self.time_compression <= 0 or self.delivery_timeout_s <= 0 or self.ping_timeout_s <= 0:
            raise ValueError("time_compression and the delivery/ping timeouts must be positive")
        if self.max_attempts < 1 or self.retry_factor < 1 or self.max_concurrent_deliveries < 1:
            raise ValueError("max_attempts, retry_factor and max_concurrent_deliveries must be at least 1")
        if self.delivery_records < 1:
            raise ValueError("delivery_records must be at least 1")
        if self.max_orders < 0:
            raise ValueError("max_orders must not be negative")
        self._check_accounts()

    def _check_accounts(self) -> None:
        names, keys = {self.account}, set(self.credentials())
        for account in self.accounts:
            problem = account_name_problem(account.name)
            if problem is not None:
                raise ValueError(f"simulated account {account.name!r}: the name {problem}")
            if account.name in names:
                raise ValueError(f"simulated account {account.name!r} is named twice")
            if not account.app_key or not account.app_token:
                raise ValueError(f"simulated account {account.name!r} needs an appKey and an appToken")
            if account.app_key in keys:
                raise ValueError(f"appKey {account.app_key!r} belongs to two simulated accounts")
            if account.rate_limit_per_minute is not None and account.rate_limit_per_minute < 0:
                raise ValueError(f"simulated account {account.name!r}: rate_limit_per_minute < 0")
            names.add(account.name)
            keys.add(account.app_key)

    def account_names(self) -> tuple[str, ...]:
        """Return the primary account's name, then the further accounts' in configuration order."""
        return (self.account, *(a.name for a in self.accounts))

    def for_account(self, account: SimAccount) -> SimConfig:
        """Return the single-account configuration of `account` (everything else as configured here)."""
        seed = (
            account.seed if account.seed is not None else zlib.crc32(f"{self.seed}:{account.name}".encode())
        )
        limit = (
            self.rate_limit_per_minute
            if account.rate_limit_per_minute is None
            else account.rate_limit_per_minute
        )
        return dataclasses.replace(
            self,
            account=account.name,
            app_key=account.app_key,
            app_token=account.app_token,
            extra_credentials=(),
            accounts=(),
            seed=seed,
            rate_limit_per_minute=limit,
        )

    def with_numbered_accounts(self, count: int) -> SimConfig:
        """Return a copy serving `count` accounts: the primary plus `{account}-2` ... `{account}-{count}`."""
        if count < 1:
            raise ValueError("the simulator serves at least one account")
        return self.replace(
            accounts=tuple(SimAccount.made_up(f"{self.account}-{n}") for n in range(2, count + 1))
        )

    def credentials(self) -> dict[str, str]:
        """Return every accepted appKey with its appToken."""
        return {self.app_key: self.app_token, **dict(self.extra_credentials)}

    def replace(self, **changes: Any) -> SimConfig:
        """Return a copy with `changes` applied (field names as keyword arguments)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SimConfig:
        """Build the configuration from the `# --- Simulator` settings; `overrides` win."""
        values: dict[str, Any] = {
            "seed": settings.sim_seed,
            "account": settings.vtex_account,
            "app_key": settings.vtex_app_key,
            "app_token": settings.vtex_app_token.get_secret_value(),
            "orders": settings.sim_orders,
            "rate_per_s": settings.sim_rate_per_s,
            "oms_latency_s": settings.sim_oms_latency_s,
            "oms_429_rate": settings.sim_oms_429_rate,
            "oms_5xx_rate": settings.sim_oms_5xx_rate,
            "oms_timeout_rate": settings.sim_oms_timeout_rate,
            "rate_limit_per_minute": settings.sim_rate_limit_per_minute,
            "time_compression": settings.sim_time_compression,
            "allow_http_hooks": settings.sim_allow_http_hooks,
            "allow_http_hook_hosts": tuple(settings.sim_allow_http_hook_hosts),
            "duplicate_rate": settings.sim_duplicate_rate,
            "reorder_rate": settings.sim_reorder_rate,
            "delivery_records": settings.sim_delivery_records,
            "max_orders": settings.sim_max_orders,
        }
        values.update(overrides)
        return cls(**values)
