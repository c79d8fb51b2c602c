"""The one registry of the VTEX accounts the bridge serves: credentials, hook secrets, OMS budget, URL.

Every component (ingress, worker, feed poller, hook/feed commands, backfill, console, simulator demo)
asks this module which accounts exist, so an account configured once is served everywhere alike.

Two sources, combined:

- The single-account variables (`VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN` or
  `VTEX_BRIDGE_VTEX_APP_TOKEN_FILE`, `VTEX_BRIDGE_HOOK_SECRET_HEADER`, `VTEX_BRIDGE_HOOK_SECRET`,
  `VTEX_BRIDGE_HOOK_SECRET_PREVIOUS`, `VTEX_BASE_URL`): the one-account shortcut. Without an accounts
  file they are the registry (their defaults are the embedded simulator's). With a file, their account
  is added only when one of `VTEX_ACCOUNT`, `VTEX_APP_KEY`, `VTEX_APP_TOKEN(_FILE)` or a non-empty hook
  secret is set, so a file-only deployment does not also serve the simulator's default account.
- The accounts file (`VTEX_BRIDGE_ACCOUNTS_FILE`; `VTEX_BRIDGE_HOOK_ACCOUNTS_FILE` is the older name of
  the same setting), a JSON list of objects:

      [{"account": "acme", "app_key": "vtexappkey-acme-ABC", "app_token_file": "/run/secrets/acme",
        "header": "X-Bridge-Secret", "secrets": ["new-secret", "old-secret"],
        "oms_rate_limit_per_s": 90, "base_url": "https://acme.vtexcommercestable.com.br"}]

  `account` and `app_key` are required. `app_token` (or `app_token_file`, its first line; a relative
  path is relative to the accounts file) may be left out where only hooks are received; `secrets`
  (one or two, for rotation) where no hook is received; `header` defaults to
  `VTEX_BRIDGE_HOOK_SECRET_HEADER`; `oms_rate_limit_per_s` to `VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S`.

Base URL of an account: its own `base_url`, else `VTEX_BASE_URL` when that holds `{account}` (a
template, e.g. one simulator serving `/accounts/{account}/...`), else VTEX's
`https://{account}.{environment}.com.br`. A `VTEX_BASE_URL` without `{account}` applies to the
settings' own account only.

Validation happens here, at start: bad names, repeated accounts, unknown keys, unreadable token files
raise `AccountsConfigError` naming the entry or variable, never a secret. Secrets stay `SecretStr`.
Each component then checks what it needs: `require_app_tokens()` (OMS readers), `hook_accounts()`
(the ingress: accounts with hook secrets, which must be strong outside the `dev` profile — fail closed)
and `require_hook_secrets()` (every account must have one, e.g. to configure all hooks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import SecretStr

from bridge.identifiers import account_name_problem
from bridge.secret_strength import secret_problem, weak_secret_message
from bridge.settings import Settings

log = logging.getLogger(__name__)

MAX_SECRETS: Final = 2
ACCOUNT_PLACEHOLDER: Final = "{account}"
_ALLOWED_KEYS: Final = frozenset(
    {
        "account",
        "app_key",
        "app_token",
        "app_token_file",
        "header",
        "secrets",
        "oms_rate_limit_per_s",
        "base_url",
    }
)
#: Settings fields that, set explicitly next to an accounts file, add the settings' own account.
_OWN_ACCOUNT_FIELDS: Final = ("vtex_account", "vtex_app_key", "vtex_app_token", "vtex_app_token_file")
MASK: Final = "**********"
#: Metric label of events whose account is not configured (no account name starts with `_`).
UNKNOWN_ACCOUNT_LABEL: Final = "_unknown"
#: Between account and OrderId in an order key (neither an account name nor an OrderId holds it).
ORDER_KEY_SEPARATOR: Final = "/"


class AccountsConfigError(ValueError):
    """The accounts configuration is unusable; the message names the entry/variable, never a secret."""


@dataclass(frozen=True, slots=True)
class Account:
    """One VTEX account: how to read its orders (appKey/appToken, budget, URL) and accept its hooks."""

    name: str
    app_key: str
    #: Empty where only hooks are received; `AccountRegistry.require_app_tokens` checks.
    app_token: SecretStr
    hook_header: str
    #: Zero (no hooks received for it), one, or two during a rotation.
    hook_secrets: tuple[SecretStr, ...]
    #: The account's OMS Get-order budget for the whole worker group (calls/s).
    oms_rate_limit_per_s: float
    #: Resolved, without a trailing `/`.
    base_url: str

    def public_view(self) -> dict[str, object]:
        """Return the account as plain data with the token and secrets masked (`vtex-bridge config`)."""
        return {
            "account": self.name,
            "app_key": self.app_key,
            "app_token": MASK if self.app_token.get_secret_value() else "",
            "header": self.hook_header,
            "secrets": [MASK for _ in self.hook_secrets],
            "oms_rate_limit_per_s": self.oms_rate_limit_per_s,
            "base_url": self.base_url,
        }


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """An account and where it was configured, so that errors can name the place to fix."""

    account: Account
    #: `VTEX_ACCOUNT` or `<file> entry <n>`.
    where: str
    #: Where each hook secret was set, in the order of `account.hook_secrets`.
    secret_sources: tuple[str, ...] = field(default=())


class AccountRegistry:
    """The configured accounts, in order: the settings' own first (when configured), then the file's."""

    def __init__(self, entries: Sequence[AccountEntry], *, dev: bool = False) -> None:
        if not entries:
            raise AccountsConfigError(
                "no VTEX account is configured: set VTEX_ACCOUNT (and its credentials) "
                "or VTEX_BRIDGE_ACCOUNTS_FILE"
            )
        seen: dict[str, str] = {}
        for entry in entries:
            name = entry.account.name
            if name in seen:
                raise AccountsConfigError(
                    f"account {name!r} is configured twice ({seen[name]} and {entry.where}); "
                    "an account has one entry (one appKey for its OMS reads and its hook)"
                )
            seen[name] = entry.where
        self._entries = tuple(entries)
        self._by_name = {entry.account.name: entry for entry in self._entries}
        self._dev = dev
        self.default: Account = self._entries[0].account

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountRegistry:
        """Build the registry from the settings and the accounts file (raises `AccountsConfigError`)."""
        path = accounts_file(settings)
        entries: list[AccountEntry] = []
        if path is None or _own_account_given(settings):
            entries.append(_own_entry(settings))
        if path is not None:
            entries.extend(read_accounts_file(path, settings))
        return cls(entries, dev=settings.profile == "dev")

    def get(self, name: str) -> Account | None:
        entry = self._by_name.get(name)
        return entry.account if entry is not None else None

    def names(self) -> tuple[str, ...]:
        return tuple(entry.account.name for entry in self._entries)

    def __iter__(self) -> Iterator[Account]:
        return iter(entry.account for entry in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __repr__(self) -> str:
        return f"AccountRegistry(names={self.names()!r}, default={self.default.name!r})"

    def select(self, account: str | None, *, all_accounts: bool = False) -> tuple[Account, ...]:
        """Return the accounts a command's `--account NAME` / `--all-accounts` name (default: the default)."""
        if all_accounts:
            if account is not None:
                raise AccountsConfigError("--account and --all-accounts exclude each other")
            return tuple(self)
        if account is None:
            return (self.default,)
        found = self.get(account)
        if found is None:
            raise AccountsConfigError(f"unknown account {account!r}; configured: {', '.join(self.names())}")
        return (found,)

    def require_app_tokens(self) -> None:
        """Refuse a registry in which an account has no appToken (every OMS reader needs all of them)."""
        for entry in self._entries:
            if not entry.account.app_token.get_secret_value():
                raise AccountsConfigError(f"account {entry.account.name!r} ({entry.where}) has no app token")

    def require_hook_secrets(self) -> None:
        """Refuse a registry in which an account has no hook secret, or (outside dev) a weak one."""
        for entry in self._entries:
            if not entry.account.hook_secrets:
                raise AccountsConfigError(
                    f"account {entry.account.name!r} ({entry.where}) has no hook secret"
                )
        self._check_secret_strength(self._entries)

    def hook_accounts(self) -> tuple[Account, ...]:
        """Return the accounts whose hooks are accepted (those with a secret), fail closed on weak ones."""
        with_secrets = [entry for entry in self._entries if entry.account.hook_secrets]
        if not with_secrets:
            raise AccountsConfigError(
                "no hook account is configured (hook_secret is empty and no accounts file)"
            )
        self._check_secret_strength(with_secrets)
        return tuple(entry.account for entry in with_secrets)

    def public_view(self) -> list[dict[str, object]]:
        """Return every account with its token and secrets masked, the default marked."""
        return [{**account.public_view(), "default": account is self.default} for account in self]

    def _check_secret_strength(self, entries: Sequence[AccountEntry]) -> None:
        named = [
            (where, secret)
            for entry in entries
            for where, secret in zip(entry.secret_sources, entry.account.hook_secrets, strict=True)
        ]
        check_secret_strength(named, dev=self._dev)


def order_key(account: str, order_id: str, default: str) -> str:
    """Return the key of an order in the worker's lanes, de-dup state and timelines.

    The same OrderId may exist in two accounts, so the key names the account: the OrderId alone in
    the default account (and for records without an account, which belong to it; state written
    before several accounts were served stays valid), `account/OrderId` in any other.
    """
    if not account or account == default:
        return order_id
    return f"{account}{ORDER_KEY_SEPARATOR}{order_id}"


def split_order_key(key: str, default: str) -> tuple[str, str]:
    """Return `(account, order_id)` of an order key (`order_key`'s inverse)."""
    account, separator, order_id = key.partition(ORDER_KEY_SEPARATOR)
    return (account, order_id) if separator else (default, key)


def input_key(key: bytes) -> bytes:
    """Return the input topic's record key (the OrderId) of an order key as stored in a changelog."""
    return key.rpartition(ORDER_KEY_SEPARATOR.encode())[2]


def check_secret_strength(named: Sequence[tuple[str, SecretStr]], *, dev: bool) -> None:
    """Refuse (or, in the dev profile, warn of) every weak secret; `named` pairs where it is set with it."""
    for where, secret in named:
        problem = secret_problem(secret.get_secret_value())
        if problem is None:
            continue
        if not dev:
            raise AccountsConfigError(weak_secret_message(where, problem))
        extra = {"where": where, "problem": problem}
        log.warning("weak hook secret accepted because VTEX_BRIDGE_PROFILE=dev", extra=extra)


def accounts_file(settings: Settings) -> Path | None:
    """Return the accounts file (`accounts_file`, or its older name `hook_accounts_file`), if any."""
    new, old = settings.accounts_file, settings.hook_accounts_file
    if new is not None and old is not None and new != old:
        raise AccountsConfigError(
            "VTEX_BRIDGE_ACCOUNTS_FILE and VTEX_BRIDGE_HOOK_ACCOUNTS_FILE name different files; "
            "set only VTEX_BRIDGE_ACCOUNTS_FILE"
        )
    return new if new is not None else old


def real_base_url(name: str, environment: str) -> str:
    """Return VTEX's own base URL of an account."""
    return f"https://{name}.{environment}.com.br"


def resolve_base_url(configured: str, name: str) -> str:
    """Return `configured` with `{account}` replaced by `name`, without a trailing `/`."""
    return configured.replace(ACCOUNT_PLACEHOLDER, name).rstrip("/")


def own_app_token(settings: Settings) -> SecretStr:
    """Return the settings' own appToken: the first line of `VTEX_BRIDGE_VTEX_APP_TOKEN_FILE`, else
    `VTEX_APP_TOKEN` (raises `AccountsConfigError` for an unreadable or empty file)."""
    if settings.vtex_app_token_file is None:
        return settings.vtex_app_token
    return SecretStr(_read_token_file(settings.vtex_app_token_file, "VTEX_BRIDGE_VTEX_APP_TOKEN_FILE"))


def _own_account_given(settings: Settings) -> bool:
    """Whether the single-account variables were set next to an accounts file (else only the file counts)."""
    given = settings.model_fields_set
    if any(name in given for name in _OWN_ACCOUNT_FIELDS):
        return True
    secrets = (settings.hook_secret, settings.hook_secret_previous)
    return "hook_secret" in given and any(s.get_secret_value() for s in secrets)


def _own_entry(settings: Settings) -> AccountEntry:
    name = settings.vtex_account  # validated by Settings
    configured = settings.vtex_base_url
    base_url = (
        resolve_base_url(configured, name) if configured else real_base_url(name, settings.vtex_environment)
    )
    _check_base_url(base_url, "VTEX_BASE_URL")
    token = own_app_token(settings)
    named = [
        (variable, secret)
        for variable, secret in (
            ("VTEX_BRIDGE_HOOK_SECRET", settings.hook_secret),
            ("VTEX_BRIDGE_HOOK_SECRET_PREVIOUS", settings.hook_secret_previous),
        )
        if secret.get_secret_value()
    ]
    if not settings.vtex_app_key:
        raise AccountsConfigError("VTEX_APP_KEY must not be empty")
    if not settings.hook_secret_header:
        raise AccountsConfigError("VTEX_BRIDGE_HOOK_SECRET_HEADER must not be empty")
    account = Account(
        name=name,
        app_key=settings.vtex_app_key,
        app_token=token,
        hook_header=settings.hook_secret_header,
        hook_secrets=tuple(secret for _, secret in named),
        oms_rate_limit_per_s=_rate(settings.oms_rate_limit_per_s, "VTEX_BRIDGE_OMS_RATE_LIMIT_PER_S"),
        base_url=base_url,
    )
    return AccountEntry(account, "VTEX_ACCOUNT", tuple(variable for variable, _ in named))


def read_accounts_file(path: Path, settings: Settings) -> list[AccountEntry]:
    """Parse the accounts file (format in the module docstring); entries keep where they came from."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise AccountsConfigError(f"cannot read accounts file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise AccountsConfigError(f"accounts file {path} is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise AccountsConfigError(f"accounts file {path} must hold a JSON list of accounts")
    return [_parse_entry(path, index, entry, settings) for index, entry in enumerate(data)]


def _parse_entry(path: Path, index: int, entry: Any, settings: Settings) -> AccountEntry:
    where = f"{path} entry {index}"
    if not isinstance(entry, dict):
        raise AccountsConfigError(f"{where} must be an object")
    unknown = set(entry) - _ALLOWED_KEYS
    if unknown:
        raise AccountsConfigError(f"{where} has unknown keys {sorted(unknown)}")
    name, app_key = entry.get("account"), entry.get("app_key")
    header = entry.get("header", settings.hook_secret_header)
    if not all(isinstance(v, str) and v for v in (name, app_key, header)):
        raise AccountsConfigError(f"{where} needs non-empty strings account, app_key (and header)")
    assert isinstance(name, str) and isinstance(app_key, str) and isinstance(header, str)
    problem = account_name_problem(name)
    if problem is not None:
        raise AccountsConfigError(f"{where}: account {name!r} {problem}")
    entry_where, where = where, f"{where} (account {name!r})"
    secrets = _secrets(entry, where)
    base_url = _entry_base_url(entry, name, settings, where)
    rate = entry.get("oms_rate_limit_per_s", settings.oms_rate_limit_per_s)
    account = Account(
        name=name,
        app_key=app_key,
        app_token=_entry_token(entry, path, where),
        hook_header=header,
        hook_secrets=secrets,
        oms_rate_limit_per_s=_rate(rate, f"{where} oms_rate_limit_per_s"),
        base_url=base_url,
    )
    sources = tuple(f"secret {j + 1} of account {name!r} in {path}" for j in range(len(secrets)))
    return AccountEntry(account, entry_where, sources)


def _secrets(entry: Mapping[str, Any], where: str) -> tuple[SecretStr, ...]:
    if "secrets" not in entry:
        return ()
    values = entry["secrets"]
    if not isinstance(values, list) or not all(isinstance(s, str) for s in values):
        raise AccountsConfigError(f"{where} needs secrets: a list of one or two strings")
    if not 1 <= len(values) <= MAX_SECRETS:
        raise AccountsConfigError(f"{where} needs one or two secrets (or no `secrets` key)")
    if any(not value for value in values):
        raise AccountsConfigError(f"{where} has an empty secret")
    return tuple(SecretStr(value) for value in values)


def _entry_token(entry: Mapping[str, Any], path: Path, where: str) -> SecretStr:
    token, token_file = entry.get("app_token"), entry.get("app_token_file")
    if token is not None and token_file is not None:
        raise AccountsConfigError(f"{where} sets both app_token and app_token_file; keep one")
    if token_file is not None:
        if not isinstance(token_file, str) or not token_file:
            raise AccountsConfigError(f"{where} app_token_file must be a non-empty path")
        file = Path(token_file)
        if not file.is_absolute():
            file = path.parent / file
        return SecretStr(_read_token_file(file, f"{where} app_token_file"))
    if token is None:
        return SecretStr("")
    if not isinstance(token, str) or not token:
        raise AccountsConfigError(f"{where} app_token must be a non-empty string")
    return SecretStr(token)


def _entry_base_url(entry: Mapping[str, Any], name: str, settings: Settings, where: str) -> str:
    configured = entry.get("base_url")
    if configured is not None:
        if not isinstance(configured, str) or not configured:
            raise AccountsConfigError(f"{where} base_url must be a non-empty string")
        url = resolve_base_url(configured, name)
        _check_base_url(url, f"{where} base_url")
        return url
    if ACCOUNT_PLACEHOLDER in settings.vtex_base_url:
        url = resolve_base_url(settings.vtex_base_url, name)
        _check_base_url(url, "VTEX_BASE_URL")
        return url
    return real_base_url(name, settings.vtex_environment)


def _check_base_url(url: str, where: str) -> None:
    if not url.startswith(("https://", "http://")) or len(url) <= len("https://"):
        raise AccountsConfigError(f"{where} must be an http(s) URL")


def _rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise AccountsConfigError(f"{where} must be a positive number of calls per second")
    return float(value)


def _read_token_file(path: Path, where: str) -> str:
    """Return the first line of a token file (its content is never shown)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AccountsConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise AccountsConfigError(f"{where}: {path} is empty")
    return token
