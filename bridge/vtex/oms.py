"""The one client of VTEX's OMS `GET /api/oms/pvt/orders/{orderId}` (REFERENCE.md section 2).

Everything that protects VTEX (and our account) from us lives here: one aiohttp session with a bounded
connection pool, the account's rate limit (VTEX allows ~6,000 reads/min/account, so the default budget
stays below 100/s; a worker takes its partitions' share of it and cuts it on 429s, `bridge.vtex.budget`),
a per-request timeout, `Retry-After` honoured on 429 for *every*
caller (a shared cool-down, not just the request that saw it), exponential backoff with jitter on 5xx and
timeouts (tenacity), and a bounded number of attempts. What happens after those attempts is the caller's
decision, driven by the error class (`bridge.vtex.errors`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final, Protocol

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from bridge.identifiers import order_id_problem
from bridge.settings import Settings, WorkerSettings
from bridge.vtex.budget import AccountBudget, BudgetLimiter
from bridge.vtex.errors import InvalidOrderId, OmsAuthError, OmsBadResponse, OmsUnavailable, OrderNotFound
from bridge.vtex.http import VtexHttpClient, path_with, vtex_url
from bridge.vtex.order_document import NotAnOrder, OrderDocument

if TYPE_CHECKING:
    from bridge.accounts import Account, AccountRegistry

ORDER_PATH: Final = "/api/oms/pvt/orders/{order_id}"
#: Bound on closing the session (connector shutdown), separate from the per-request timeout.
#: Upper bound honoured for a `Retry-After`; the guide suggests ~1 minute after a 429 (REFERENCE.md 1).
MAX_RETRY_AFTER_S: Final = 60.0


class OmsObserver(Protocol):
    """Receives one call per HTTP attempt, so the owner can export metrics without this module knowing."""

    def on_oms_response(self, status: str, latency_s: float) -> None: ...

    def on_oms_throttle_wait(self, seconds: float) -> None: ...


class _Transient(Exception):
    """An attempt failed in a way that another attempt may fix; `retry_after` set for 429."""

    def __init__(self, message: str, *, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds of a `Retry-After: <seconds>` header, capped; None when absent or unparsable.

    The HTTP-date form is not used by VTEX as far as we know (REFERENCE.md section 8 item 4), so it is
    treated as absent and the normal backoff applies.
    """
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


class OmsClient(VtexHttpClient):
    """Read full orders from OMS, within the account's budget, retrying what is worth retrying."""

    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        app_token: str,
        rate_limit_per_s: float,
        timeout_s: float,
        max_attempts: int = 5,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        max_connections: int = 64,
        observer: OmsObserver | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            app_key=app_key,
            app_token=app_token,
            timeout_s=timeout_s,
            max_connections=max_connections,
        )
        #: The account's budget (`rate_limit_per_s`) as this process's share of it, cut on 429s; the
        #: worker sets its share on every rebalance (`bridge.vtex.budget`). Alone it takes it all.
        self.budget = AccountBudget(rate_limit_per_s)
        # Bucket of one second's budget: a burst may use it at once, then calls are spaced evenly.
        self._limiter = BudgetLimiter(self.budget.rate)
        self._max_attempts = max(1, max_attempts)
        self._wait = wait_random_exponential(multiplier=backoff_initial_s, max=backoff_max_s)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._observer = observer
        self._cooldown_until = 0.0
        self.calls = 0

    @classmethod
    def from_settings(cls, settings: Settings, observer: OmsObserver | None = None) -> OmsClient:
        """Return a client of the settings' own account (`for_account` serves any registry account).

        The account is the registry's view of the single-account variables, so its base URL is resolved
        the same way (a `{account}` template included); raises `AccountsConfigError` if they are unusable.
        """
        from bridge.accounts.own_account import own_entry

        return cls.for_account(own_entry(settings).account, settings, observer)

    @classmethod
    def for_account(
        cls, account: Account, settings: WorkerSettings, observer: OmsObserver | None = None
    ) -> OmsClient:
        """Return a client of one registry account: its credentials, URL and budget; the rest shared."""
        return cls(
            base_url=account.base_url,
            app_key=account.app_key,
            app_token=account.app_token.get_secret_value(),
            rate_limit_per_s=account.oms_rate_limit_per_s,
            timeout_s=settings.oms_timeout_s,
            max_attempts=settings.oms_max_attempts,
            backoff_initial_s=settings.oms_backoff_initial_s,
            backoff_max_s=settings.oms_backoff_max_s,
            max_connections=settings.oms_max_connections,
            observer=observer,
        )

    async def get_order(self, order_id: str) -> OrderDocument:
        """Return the order (validated, parsed on demand) or raise an `OmsError` subclass.

        Transient failures (5xx, 429, timeouts, connection errors) are retried up to `max_attempts`
        then raised as `OmsUnavailable`; 404, 401/403 and other 4xx are raised at once. An id that is
        no VTEX OrderId raises `InvalidOrderId` (an `OmsBadResponse`: permanent) without any call.
        """
        problem = order_id_problem(order_id)
        if problem is not None:
            raise InvalidOrderId(f"refusing to read order {order_id[:140]!r}: OrderId {problem}")
        try:  # the common case without tenacity's per-call bookkeeping
            return await self._attempt(order_id)
        except _Transient as exc:
            if self._max_attempts == 1:
                raise OmsUnavailable(str(exc), status=exc.status) from exc
            await asyncio.sleep(exc.retry_after if exc.retry_after is not None else self._first_backoff())
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts - 1),
            wait=self._wait_for,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(order_id)
        except _Transient as exc:
            raise OmsUnavailable(str(exc), status=exc.status) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _first_backoff(self) -> float:
        return random.uniform(0, min(self._backoff_initial_s, self._backoff_max_s))

    def _wait_for(self, state: RetryCallState) -> float:
        """Wait `Retry-After` after a 429 that named it, else exponential backoff with full jitter."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._wait(state))

    async def _attempt(self, order_id: str) -> OrderDocument:
        if self._session is None:
            raise RuntimeError("OmsClient.start() was not awaited")
        await self._respect_cooldown()
        async with self._limiter:
            pass
        self.calls += 1
        url = vtex_url(self._base_url, path_with(ORDER_PATH, order_id=order_id))
        started = time.perf_counter()
        status_label = "error"
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._session.get(url) as response:
                    status_label = str(response.status)
                    body = await response.read()
                    return self._interpret(order_id, response, body)
        except TimeoutError as exc:
            status_label = "timeout"
            raise _Transient(f"OMS timed out after {self._timeout_s}s", status=None) from exc
        except aiohttp.ClientError as exc:
            status_label = "connection-error"
            raise _Transient(f"OMS connection failed: {exc}", status=None) from exc
        finally:
            if self._observer is not None:
                self._observer.on_oms_response(status_label, time.perf_counter() - started)

    def _interpret(self, order_id: str, response: aiohttp.ClientResponse, body: bytes) -> OrderDocument:
        status = response.status
        if status == 200:
            try:
                return OrderDocument.parse(body)
            except NotAnOrder as exc:
                message = f"OMS returned no order object for {order_id}: {exc}"
                raise OmsBadResponse(message, status=status) from exc
        if status == 404:
            raise OrderNotFound(f"order {order_id} not found", status=status)
        if status in (401, 403):
            raise OmsAuthError(f"OMS refused our credentials ({status})", status=status)
        if status == 429:
            self.budget.throttled()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                self._cooldown_until = max(self._cooldown_until, time.monotonic() + retry_after)
            raise _Transient("OMS throttled us (429)", status=status, retry_after=retry_after)
        if status >= 500 or status == 408:
            raise _Transient(f"OMS answered {status}", status=status)
        raise OmsBadResponse(f"OMS answered {status} for {order_id}", status=status)

    async def _respect_cooldown(self) -> None:
        """After a 429 with Retry-After, hold every caller (not only the throttled one) until it passes."""
        delay = self._cooldown_until - time.monotonic()
        if delay > 0:
            if self._observer is not None:
                self._observer.on_oms_throttle_wait(delay)
            await asyncio.sleep(delay)


class OmsClients:
    """One `OmsClient` per account of the registry: its own session and pool, limiter, budget, cool-down.

    VTEX's limits are per account, so a 429 or an outage of one account throttles only that account's
    client; the others keep their pace. Built for every account at once (the registry bounds them),
    started and closed together. `observer_for(name)` gives each client its (per-account) observer.
    """

    def __init__(
        self,
        registry: AccountRegistry,
        settings: Settings,
        observer_for: Callable[[str], OmsObserver | None] = lambda _name: None,
    ) -> None:
        self._clients = {
            account.name: OmsClient.for_account(account, settings, observer_for(account.name))
            for account in registry
        }

    def get(self, name: str) -> OmsClient | None:
        return self._clients.get(name)

    def __iter__(self) -> Iterator[tuple[str, OmsClient]]:
        return iter(self._clients.items())

    def __len__(self) -> int:
        return len(self._clients)

    def set_share(self, owned: int, total: int) -> None:
        """Take `owned / total` of every account's budget (the worker's partitions carry every account)."""
        for client in self._clients.values():
            client.budget.set_share(owned, total)

    def rate(self) -> float:
        """Calls per second this process may make now, all accounts together."""
        return sum(client.budget.rate() for client in self._clients.values())

    async def start(self) -> None:
        for client in self._clients.values():
            await client.start()

    async def close(self) -> None:
        results = await asyncio.gather(
            *(client.close() for client in self._clients.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
