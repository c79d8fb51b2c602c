"""Async client of VTEX's hook configuration, feed configuration and Feed v3 read/commit APIs.

Paths and bodies follow REFERENCE.md sections 3-5. Every call is bounded by one timeout and every
non-2xx answer becomes a `ConfigApiError` subclass that carries the status, VTEX's own message and a
hint telling the operator what to do, plus the exit code the CLI returns for it (the errors and the
request models live in `bridge.vtex.config_models`). The models validate bodies locally first,
raising the very same errors VTEX would (409 for mixed filter types, 400 for a non-https hook URL), so
a bad request never reaches VTEX.

The AppToken travels only in the request header; no message, log or repr of this module contains it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import orjson

from bridge.settings import ControlSettings, Settings
from bridge.vtex.config_models import (
    HINT_409,
    MAX_LOT,
    ConfigApiError,
    FeedConfig,
    FeedItem,
    HookConfig,
    VtexAuthError,
    VtexBadRequest,
    VtexConflict,
    VtexNotFound,
    VtexRateLimited,
    VtexUnavailable,
)
from bridge.vtex.http import VtexHttpClient, vtex_url

if TYPE_CHECKING:
    from bridge.accounts import Account

HOOK_CONFIG_PATH: Final = "/api/orders/hook/config"
FEED_CONFIG_PATH: Final = "/api/orders/feed/config"
FEED_PATH: Final = "/api/orders/feed"
#: VTEX's List orders (indexed search); only `backfill --since/--until` uses it.
LIST_ORDERS_PATH: Final = "/api/oms/pvt/orders"
#: Cap on an honoured Retry-After; the guide suggests about a minute after a 429.
MAX_RETRY_AFTER_S: Final = 120.0

_HINT_403: Final = (
    "the appKey lacks permission: give its role the License Manager resource "
    "'Feed v3 and Hook Admin' (no predefined role has it; read-only commands also work with "
    "'Feed v3 and Hook view only')"
)
_HINT_403_OMS: Final = (
    "the appKey lacks permission: its role needs 'View order' (OMS) or 'Orders Full Access'"
)
_HINT_401: Final = "VTEX rejected the credentials: check VTEX_APP_KEY and VTEX_APP_TOKEN"
_HINT_429: Final = (
    "VTEX is throttling this account: wait about a minute before retrying "
    "(too many 429s can also make the Admin unavailable)"
)


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds of a `Retry-After: <seconds>` header, capped; None when absent or unparsable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return min(seconds, MAX_RETRY_AFTER_S) if seconds >= 0 else None


def _vtex_message(body: bytes) -> str:
    """Return VTEX's own error text from an OMS envelope or a bare string body, shortened."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return text[:300]
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
        for key in ("message", "Message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])[:300]
    if isinstance(data, str):
        return data[:300]
    return text[:300]


def error_for(status: int, body: bytes, *, what: str, retry_after: float | None = None) -> ConfigApiError:
    """Return the typed error for VTEX's answer `status` to the request described by `what`."""
    vtex_says = _vtex_message(body)
    detail = f"{what}: VTEX answered {status}" + (f" ({vtex_says})" if vtex_says else "")
    if status == 400:
        hint = (
            "VTEX could not use the hook URL: it must be https, reachable from the internet and answer "
            'VTEX\'s ping {"hookConfig":"ping"} with 200 within 5 s (is the ingress up at that URL?)'
            if what.startswith("hook")
            else "VTEX refused the request body; check the filter and queue values"
        )
        return VtexBadRequest(detail, status=status, hint=hint)
    if status == 401:
        return VtexAuthError(detail, status=status, hint=_HINT_401)
    if status == 403:
        hint = _HINT_403_OMS if what.startswith("list orders") else _HINT_403
        return VtexAuthError(detail, status=status, hint=hint)
    if status == 404:
        return VtexNotFound(detail, status=status, hint=_not_found_hint(what))
    if status == 409:
        return VtexConflict(detail, status=status, hint=HINT_409)
    if status == 429:
        hint = _HINT_429 if retry_after is None else f"{_HINT_429}; VTEX asked for {retry_after:g} s"
        return VtexRateLimited(detail, status=status, hint=hint, retry_after=retry_after)
    if status >= 500 or status == 408:
        return VtexUnavailable(detail, status=status, hint="VTEX is failing right now; retry in a while")
    return ConfigApiError(detail, status=status, hint="unexpected answer from VTEX")


def _not_found_hint(what: str) -> str:
    if what.startswith("list orders"):
        return "this VTEX URL does not serve List orders (the simulator does not): use --order-ids"
    if what.startswith("hook"):
        return "no hook is configured for this appKey (VTEX deletes one after 3 days without notifications)"
    if what.startswith("feed read") or what.startswith("feed commit"):
        return "no feed is configured for this appKey: run `vtex-bridge feed set` first"
    return (
        "no feed is configured for this appKey (VTEX deletes one when no event arrives during its "
        "retention period): run `vtex-bridge feed set`"
    )


class ConfigApiClient(VtexHttpClient):
    """Read and change the appKey's hook and feed configuration; read and commit Feed v3 items."""

    def __init__(self, *, base_url: str, app_key: str, app_token: str, timeout_s: float) -> None:
        super().__init__(base_url=base_url, app_key=app_key, app_token=app_token, timeout_s=timeout_s)
        self.app_key = app_key
        self.calls = 0
        #: The registry account this client acts for, when built with `for_account`.
        self.account: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ConfigApiClient:
        """Return a client of the settings' own account, as the registry sees it (`for_account`)."""
        from bridge.accounts.own_account import own_entry

        return cls.for_account(own_entry(settings).account, settings)

    @classmethod
    def for_account(cls, account: Account, settings: ControlSettings) -> ConfigApiClient:
        """Return the client of one registry account (its URL and appKey; its hook and its feed).

        An account configured without an appToken (hooks received only) cannot be read or changed:
        refused here, before any request, as VTEX would refuse it (401)."""
        token = account.app_token.get_secret_value()
        if not token:
            raise VtexAuthError(
                f"account {account.name} has no app token",
                status=401,
                hint="give the account app_token or app_token_file in the accounts file",
                local=True,
            )
        client = cls(
            base_url=account.base_url,
            app_key=account.app_key,
            app_token=token,
            timeout_s=settings.control_timeout_s,
        )
        client.account = account.name
        return client

    def __repr__(self) -> str:
        return f"ConfigApiClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    # --- hook ---------------------------------------------------------------------------------------

    async def get_hook_config(self) -> dict[str, Any] | None:
        """Return the hook configuration as VTEX shows it, or None when none is configured (404)."""
        try:
            data = await self._request("GET", HOOK_CONFIG_PATH, what="hook show")
        except VtexNotFound:
            return None
        return data if isinstance(data, dict) else None

    async def set_hook_config(self, config: HookConfig) -> None:
        """Create or replace the hook; VTEX pings the URL first and answers 400 if the ping fails."""
        await self._request("POST", HOOK_CONFIG_PATH, body=config.to_json(), what="hook set")

    async def delete_hook_config(self) -> None:
        await self._request("DELETE", HOOK_CONFIG_PATH, what="hook delete")

    # --- feed configuration ---------------------------------------------------------------------------

    async def get_feed_config(self) -> dict[str, Any] | None:
        """Return the feed configuration (with `quantity` and the oldest message's age), None on 404."""
        try:
            data = await self._request("GET", FEED_CONFIG_PATH, what="feed show")
        except VtexNotFound:
            return None
        return data if isinstance(data, dict) else None

    async def set_feed_config(self, config: FeedConfig) -> None:
        await self._request("POST", FEED_CONFIG_PATH, body=config.to_json(), what="feed set")

    async def delete_feed_config(self) -> None:
        await self._request("DELETE", FEED_CONFIG_PATH, what="feed delete")

    # --- Feed v3 items ----------------------------------------------------------------------------------

    async def read_feed(self, maxlot: int = MAX_LOT) -> list[FeedItem]:
        """Return up to `maxlot` (1..10) items; they stay invisible for the visibility timeout."""
        if not 1 <= maxlot <= MAX_LOT:
            raise ValueError(f"maxlot must be within 1..{MAX_LOT}, got {maxlot}")
        data = await self._request("GET", FEED_PATH, params={"maxlot": str(maxlot)}, what="feed read")
        if data is None:
            return []
        if not isinstance(data, list):
            raise ConfigApiError(
                "feed read: VTEX answered 200 with a non-list body",
                status=200,
                hint="unexpected answer from VTEX",
            )
        return [FeedItem.from_json(item) for item in data]

    async def commit_feed(self, handles: Sequence[str]) -> None:
        """Remove the items of `handles` from the queue (for every user of this appKey)."""
        if handles:
            await self._request("POST", FEED_PATH, body={"handles": list(handles)}, what="feed commit")

    # --- List orders (backfill by date range) --------------------------------------------------------

    async def list_orders_page(self, since: str, until: str, page: int, per_page: int) -> dict[str, Any]:
        """Return one page of orders created between `since` and `until` (UTC ISO, inclusive).

        VTEX's List orders reads its search index, which lags a few minutes behind (the feed guide
        advises against it for integrations); backfill only uses it to find ids, then reads each order.
        """
        params = {
            "f_creationDate": f"creationDate:[{since} TO {until}]",
            "orderBy": "creationDate,asc",
            "page": str(page),
            "per_page": str(per_page),
        }
        data = await self._request("GET", LIST_ORDERS_PATH, params=params, what="list orders")
        if not isinstance(data, dict) or not isinstance(data.get("list"), list):
            raise ConfigApiError(
                "list orders: VTEX answered 200 without a `list`",
                status=200,
                hint="unexpected answer from VTEX",
            )
        return data

    # --- transport -----------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Send one bounded request; return the parsed JSON body (None when empty) or raise."""
        await self.start()
        session = self._session
        assert session is not None
        url = vtex_url(self._base_url, path)  # constant paths; sent exactly as written
        self.calls += 1
        try:
            async with asyncio.timeout(self._timeout_s):
                async with session.request(
                    method,
                    url,
                    params=params,
                    data=None if body is None else orjson.dumps(body),
                ) as response:
                    payload = await response.read()
                    status = response.status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            raise VtexUnavailable(
                f"{what}: no answer from {self._base_url} within {self._timeout_s:g} s",
                status=None,
                hint="VTEX or the network is slow; retry later",
            ) from None
        except aiohttp.ClientError as exc:
            raise VtexUnavailable(
                f"{what}: cannot reach {self._base_url} ({type(exc).__name__})",
                status=None,
                hint="check the account name / VTEX_BRIDGE_VTEX_BASE_URL and the network",
            ) from exc
        if 200 <= status < 300:
            if not payload.strip():
                return None
            try:
                return orjson.loads(payload)
            except orjson.JSONDecodeError:
                return payload.decode("utf-8", "replace")
        raise error_for(status, payload, what=what, retry_after=retry_after)
