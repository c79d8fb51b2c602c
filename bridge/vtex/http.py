"""The HTTP session every VTEX API client of the bridge shares the shape of.

Both clients (OMS `bridge.vtex.oms`, hook/feed configuration `bridge.vtex.config_api`) authenticate with
the same appKey/appToken headers, bound every call with one timeout and must close their session within
a bound (a hung close would hang shutdown). This base owns exactly that; the subclasses own their calls.
The AppToken lives only in the session's default headers, never in a repr or a log.

Every variable path segment goes through `path_with`, which percent-encodes it, and the URL is handed
to aiohttp as already encoded (`vtex_url`), so yarl neither decodes `%2F`/`%2E` back nor resolves dot
segments: what the caller validated is what VTEX receives. Ids are validated before (bridge.identifiers);
this is the second line of defence.
"""

from __future__ import annotations

import asyncio
from typing import Final, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

CLOSE_TIMEOUT_S: Final = 5.0


def path_with(template: str, **segments: str) -> str:
    """Return `template` with each `{name}` replaced by its segment, percent-encoded (all but unreserved)."""
    return template.format(**{name: quote(value, safe="") for name, value in segments.items()})


def vtex_url(base_url: str, path: str) -> URL:
    """Return `base_url + path` as an already-encoded URL (no re-encoding, no dot-segment resolution)."""
    return URL(base_url.rstrip("/") + path, encoded=True)


def vtex_headers(app_key: str, app_token: str) -> dict[str, str]:
    """Return the headers that authenticate a machine against VTEX (REFERENCE.md section 1)."""
    return {
        "X-VTEX-API-AppKey": app_key,
        "X-VTEX-API-AppToken": app_token,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }


class VtexHttpClient:
    """One aiohttp session to `base_url` with VTEX's auth headers; `start`/`close` or `async with`."""

    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        app_token: str,
        timeout_s: float,
        max_connections: int | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = vtex_headers(app_key, app_token)
        self._timeout_s = timeout_s
        #: None keeps aiohttp's default pool; the OMS client sizes its pool to its concurrency.
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = (
                None
                if self._max_connections is None
                else aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=self._max_connections)
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await asyncio.wait_for(session.close(), CLOSE_TIMEOUT_S)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
