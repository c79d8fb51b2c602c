"""Ask the workers' console HTTP API (`processors.console`) from outside a worker.

Two callers: `vtex-bridge order` (an order's timeline and pending events) and `topics reshard`'s
progress (what a drain waits for, `bridge.topics.reshard_waits`). It lives here, below both, so that
`bridge.topics` reads the console without importing the composition root (`bridge.cli`) and, through
it, the worker (docs/architecture.md, "Layers"). Plain urllib: these are one-shot tools that ask once.
"""

from __future__ import annotations

from typing import Final

from bridge.settings import ConsoleSettings, Settings

#: Default wait for one console answer.
TIMEOUT_S: Final = 20.0


def advertised_url(settings: Settings) -> str:
    """Return the URL this machine's worker console is reached at by other workers and the CLI."""
    if settings.worker_advertised_url:
        return settings.worker_advertised_url.rstrip("/")
    return f"http://127.0.0.1:{settings.console_port}"


def console_base(settings: Settings, url: str | None = None) -> str:
    """Return the console base URL to ask: `url`, else this machine's worker console."""
    return (url or advertised_url(settings)).rstrip("/")


def fetch(
    settings: ConsoleSettings, base: str, path: str, timeout_s: float = TIMEOUT_S
) -> tuple[int, object]:
    """GET `base + path` from a worker console with the configured token; return (status, JSON or None).

    Raises OSError when the worker is unreachable, so each caller says so in its own words.
    """
    import urllib.error
    import urllib.request

    import orjson

    headers = {"Accept": "application/json"}
    token = settings.console_read_token.get_secret_value() or settings.console_admin_token.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{base}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return status, None


def order_path(order_id: str, account: str | None = None) -> str:
    """Return the API path of an order's lookup (`account` None: the default account's)."""
    import urllib.parse

    path = f"/api/orders/{urllib.parse.quote(order_id, safe='')}"
    return path if account is None else f"{path}?{urllib.parse.urlencode({'account': account})}"


def waiting_text(waiting: object) -> str:
    """Say in words what a pending event waits for (`processors.pending`)."""
    if not isinstance(waiting, dict):
        return ""
    reason = waiting.get("reason")
    attempts = waiting.get("attempts")
    if reason == "not-found-grace":
        return (
            f"OMS answers 404: not-found grace until {waiting.get('until')} ({waiting.get('left_s')} s left, "
            f"{attempts} attempt(s)); then it is dead-lettered (order-not-found)"
        )
    if reason == "retry-backoff":
        return (
            f"retrying after a {waiting.get('cause')} failure: attempt {attempts} since "
            f"{waiting.get('since')}, next in {waiting.get('left_s')} s"
        )
    if reason == "behind-earlier-event":
        return "queued behind an earlier event of the order"
    if reason == "account-queue-full":
        return (
            f"{waiting.get('parked')} event(s) of the order's account parked in its partition from this "
            "offset on (the account holds its bound of events in the worker: its OMS is slow or down); "
            "the order's newer events, if any, are among them; read again once the account has room"
        )
    if reason == "processing":
        return "being processed"
    return str(reason or "")
