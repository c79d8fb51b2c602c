"""Who may use the console: the Host check, the login (bearer token or a trusted proxy's identity header)
and the startup rule that refuses a console without a strong token outside the dev profile.

The console serves customer orders, so it fails closed:

- **Host**: every request's `Host` must name this console: a loopback name, a name listed in
  `console_allowed_hosts`, or the host of `worker_advertised_url` (what other workers forward to). This
  stops DNS-rebinding pages in an operator's browser from reading the API through a name they control.
- **Login** (every `/api/...` request): `Authorization: Bearer <token>` with `console_admin_token` (reads
  and replay) or `console_read_token` (reads only); or, when `console_proxy_user_header` is set, that
  header as sent by an authenticating reverse proxy, believed only from the addresses listed in
  `console_proxy_trusted_sources` (anyone else could just send the header). Replay always needs the
  admin token. Tokens are compared in constant time; a header that is not UTF-8 is simply not a token.
- **Startup** (`check_settings`): outside the dev profile (`Settings.profile`) a worker refuses to start
  unless the admin token passes the bridge's secret rule (`bridge.secret_strength`: 24+ random-looking
  characters, no placeholder; a read token, when set, too), and a proxy header without trusted sources
  is refused in every profile. In the dev profile a console without a token starts and refuses every
  API request (`login-not-configured`).

The page's HTML, script and stylesheet carry no data and are served without a login (the page asks for
the token); everything under `/api/` needs one.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter

from bridge.secret_strength import secret_problem, weak_secret_message
from bridge.settings import ConsoleSettings, ProcessSettings, Settings

LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
#: Environment variables an operator sets, named in the messages.
ADMIN_TOKEN_ENV: Final = "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN"
READ_TOKEN_ENV: Final = "VTEX_BRIDGE_CONSOLE_READ_TOKEN"
ALLOWED_HOSTS_ENV: Final = "VTEX_BRIDGE_CONSOLE_ALLOWED_HOSTS"


class ConsoleConfigError(ValueError):
    """The console's settings are unsafe: the message says what to set."""


def dev_profile(settings: ProcessSettings) -> bool:
    """Tell whether `settings` are the dev profile (`make run` with the simulator), where the console
    may start without a token (it then refuses every API request)."""
    return settings.profile == "dev"


def check_settings(settings: Settings) -> None:
    """Raise `ConsoleConfigError` when the console must not start with `settings` (module docstring)."""
    if settings.console_proxy_user_header and not settings.console_proxy_trusted_sources:
        raise ConsoleConfigError(
            "console_proxy_user_header is set but console_proxy_trusted_sources is empty: set "
            "VTEX_BRIDGE_CONSOLE_PROXY_TRUSTED_SOURCES to the proxy's addresses (JSON list of IPs or "
            "networks), or unset the header"
        )
    trusted_sources(settings)  # raises on a malformed entry
    if dev_profile(settings):
        return
    problems = token_problems(settings)
    if problems:
        raise ConsoleConfigError(problems[0])


def token_problems(settings: ConsoleSettings) -> list[str]:
    """Return a message for each console token that breaks the secret rule (a missing admin token too);
    in the dev profile the worker logs them as warnings instead of refusing to start."""
    problems = []
    tokens = ((ADMIN_TOKEN_ENV, settings.console_admin_token), (READ_TOKEN_ENV, settings.console_read_token))
    for env, token in tokens:
        value = token.get_secret_value()
        problem = secret_problem(value) if value or env == ADMIN_TOKEN_ENV else None
        if problem is not None:
            problems.append(weak_secret_message(env, problem))
    return problems


def trusted_sources(settings: ConsoleSettings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Return the networks the proxy identity header is believed from."""
    networks = []
    for entry in settings.console_proxy_trusted_sources:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ConsoleConfigError(
                f"console_proxy_trusted_sources: {entry!r} is not an IP or network"
            ) from exc
    return networks


def host_name(header: str) -> str:
    """Return the lower-case name of a Host header value, without port or brackets."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        value = name
    return value.rstrip(".")


def allowed_hosts(settings: Settings, extra: Iterable[str] = ()) -> frozenset[str]:
    """Return the Host names this console answers to (see the module docstring)."""
    names = set(LOOPBACK_HOSTS)
    names.update(host_name(h) for h in settings.console_allowed_hosts if h.strip())
    if settings.worker_advertised_url:
        advertised = urlsplit(settings.worker_advertised_url).hostname
        if advertised:
            names.add(advertised.lower())
    names.update(host_name(h) for h in extra)
    return frozenset(names)


@dataclass(frozen=True)
class Login:
    """Who a request was authenticated as: `method` is admin-token, read-token or proxy."""

    user: str
    method: str
    admin: bool


def _token_bytes(value: str) -> bytes:
    # aiohttp decodes header bytes as UTF-8 with surrogateescape: any byte string survives the round trip.
    return value.encode("utf-8", "surrogateescape")


def bearer(request: web.Request) -> bytes | None:
    """Return the bearer token of `request` as bytes, or None."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return _token_bytes(given.strip())


class Authenticator:
    """Checks a request's login against the settings (module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self._admin = _token_bytes(settings.console_admin_token.get_secret_value())
        self._read = _token_bytes(settings.console_read_token.get_secret_value())
        self._header = settings.console_proxy_user_header
        self._sources = trusted_sources(settings) if self._header else []

    @property
    def configured(self) -> bool:
        """Whether any login can succeed at all."""
        return bool(self._admin or self._read or (self._header and self._sources))

    def is_admin_token(self, token: bytes | None) -> bool:
        return bool(self._admin) and token is not None and hmac.compare_digest(token, self._admin)

    def login(self, request: web.Request) -> Login | None:
        """Return the request's login, or None when it has none this console accepts."""
        token = bearer(request)
        if token is not None:
            if self.is_admin_token(token):
                return Login("admin-token", "admin-token", admin=True)
            if self._read and hmac.compare_digest(token, self._read):
                return Login("read-token", "read-token", admin=False)
            return None
        if self._header:
            user = request.headers.get(self._header, "").strip()
            if user and self._trusted(request.remote):
                return Login(user[:200], "proxy", admin=False)
        return None

    def _trusted(self, remote: str | None) -> bool:
        if not remote:
            return False
        try:
            address = ipaddress.ip_address(remote)
        except ValueError:
            return False
        return any(address in network for network in self._sources)

    def service_token(self) -> str:
        """Return the token a worker forwards lookups with (the other workers share the settings)."""
        return (self._admin or self._read).decode("utf-8", "surrogateescape")


LOGIN: web.RequestKey[Login] = web.RequestKey("console-login", Login)
API_HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _refusal(status: int, error: str, detail: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": error, "detail": detail}, status=status, headers={**API_HEADERS, **headers}
    )


def guard(
    settings: Settings,
    auth: Authenticator,
    *,
    refused: Counter | None = None,
    extra_hosts: Iterable[str] = (),
) -> Middleware:
    """Return the console app's middleware: the Host check on every request, the login on `/api/`.
    Refusals are counted in `refused` as endpoint `access` with their status."""
    hosts = allowed_hosts(settings, extra_hosts)

    def count(status: int) -> None:
        if refused is not None:
            refused.labels("access", str(status)).inc()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if not host or host_name(host) not in hosts:
            count(421)
            return _refusal(
                421,
                "host-not-allowed",
                f"this console does not answer to that Host name; add it to {ALLOWED_HOSTS_ENV}",
            )
        if request.path.startswith("/api/"):
            login = auth.login(request)
            if login is None:
                count(401)
                if not auth.configured:
                    detail = f"no login is configured for this console: set {ADMIN_TOKEN_ENV}"
                    return _refusal(401, "login-not-configured", detail)
                return _refusal(
                    401,
                    "login-required",
                    "send Authorization: Bearer <console token>, or come through the configured proxy",
                    **{"WWW-Authenticate": 'Bearer realm="vtex-bridge console"'},
                )
            request[LOGIN] = login
        return await handler(request)

    return middleware
