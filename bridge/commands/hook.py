"""`vtex-bridge hook show|set|delete|ensure`: the VTEX hook that calls our ingress.

`ensure` is what a scheduler runs (e.g. hourly): it reads the configuration and writes it only when it
differs from the desired one (no change, no call), so VTEX deleting the hook after 3 days without
notifications (REFERENCE.md section 5) is repaired within one period. It also reads the ingress's
`last hook received` gauge and warns when no hook arrived for `control_hook_silence_warn_s`.

The secret header VTEX must send takes its value from the account registry (`bridge.accounts`: the
account's header and its first secret), the settings or a secret file, never from the command line
(argv ends up in shell history and process lists), and `show` masks every header value.

Every action acts on one account of the registry (`--account NAME`, default the first configured) or
on each in turn (`--all-accounts`), and names the account on every line it prints; with several
accounts a failure on one is reported and the others still run (the exit code is the first failure's).

`set` and `ensure` never narrow a configured filter silently: when the desired filter would stop
notifying some changes the existing one notifies (`bridge.vtex.filter_scope`), they print the
difference and refuse (exit 10) unless `--replace-filter`. The default filter is FromOrders
`$exists(orderId)` with `disableSingleFire`: every change of every order, including the null state,
`payment-denied` and undocumented statuses that no FromWorkflow list can name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bridge.commands.account_options import EXIT_ACCOUNTS, add_account_arguments, selected_accounts
from bridge.settings import Settings
from bridge.vtex.config_models import (
    EXIT_BAD_REQUEST,
    EXIT_NOT_FOUND,
    ConfigApiError,
    Filter,
    HookConfig,
    OrdersFilter,
    VtexBadRequest,
    WorkflowFilter,
    build_filter,
    filter_from_json,
    status_warnings,
    validate_hook_url,
)

if TYPE_CHECKING:
    from bridge.accounts import Account
    from bridge.vtex.config_api import ConfigApiClient

#: The ingress gauge holding, per account, the Unix time of the last authenticated hook.
LAST_HOOK_METRIC: Final = "vtex_bridge_ingress_last_hook_received_timestamp_seconds"
METRICS_TIMEOUT_S: Final = 5.0
#: `ensure --fail-on-silence` exits with this when the ingress has been silent too long.
EXIT_SILENT: Final = 9
#: `set`/`ensure` exit with this when the desired filter would narrow the configured one.
EXIT_FILTER_NARROWS: Final = 10
MASK: Final = "**********"


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the filter options shared by `hook set|ensure` and `feed set`."""
    group = parser.add_argument_group("filter (FromWorkflow: --status; FromOrders: --expression)")
    group.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS[,STATUS]",
        help="FromWorkflow status to notify (repeatable or comma-separated)",
    )
    group.add_argument("--expression", help="FromOrders JSONata expression evaluated on the order JSON")
    group.add_argument(
        "--disable-single-fire",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="FromOrders: fire on every change while the order matches (default: once)",
    )
    group.add_argument(
        "--type", dest="filter_type", choices=("FromWorkflow", "FromOrders"), help="filter type (inferred)"
    )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("hook", help="show, set, delete or ensure the VTEX order hook")
    actions = parser.add_subparsers(dest="hook_action", metavar="ACTION", required=True)

    show = actions.add_parser("show", help="print the hook configuration (header values, appKey masked)")
    add_account_arguments(show)
    show.set_defaults(func=run)

    delete = actions.add_parser("delete", help="delete the hook configuration")
    add_account_arguments(delete)
    delete.set_defaults(func=run)

    for name, text in (
        ("set", "create or replace the hook configuration"),
        ("ensure", "configure the hook only if it differs (idempotent; run it from a scheduler)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--url", help="hook URL (default: control_hook_url, else dev_public_hook_url)")
        action.add_argument(
            "--allow-http", action="store_true", help="accept a plain-http URL (local simulator/demo only)"
        )
        action.add_argument(
            "--secret-file", type=Path, help="file whose first line is the hook secret (instead of settings)"
        )
        add_filter_arguments(action)
        add_account_arguments(action)
        action.add_argument(
            "--replace-filter",
            action="store_true",
            help="replace the configured filter even when the new one notifies fewer changes",
        )
        if name == "ensure":
            action.add_argument("--ingress-metrics-url", help="ingress Prometheus endpoint to check")
            action.add_argument(
                "--silence-warn-after",
                type=float,
                metavar="SECONDS",
                help="warn after this long without hooks",
            )
            action.add_argument(
                "--fail-on-silence",
                action="store_true",
                help=f"exit {EXIT_SILENT} (after ensuring) when the ingress has been silent too long "
                "for an account",
            )
            action.add_argument(
                "--skip-silence-check", action="store_true", help="do not read the ingress metrics"
            )
        action.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bridge.accounts import AccountsConfigError
    from bridge.expressions import ExpressionError

    action = args.hook_action
    try:
        accounts = selected_accounts(args, settings)
        if len(accounts) > 1 and getattr(args, "secret_file", None) is not None:
            raise AccountsConfigError("--secret-file names one account's secret: use it with --account")
        return asyncio.run(_run_each(action, args, settings, accounts))
    except AccountsConfigError as exc:
        print(f"vtex-bridge hook {action}: {exc}", file=sys.stderr)
        return EXIT_ACCOUNTS
    except ConfigApiError as exc:
        print(f"vtex-bridge hook {action}: {exc.user_message()}", file=sys.stderr)
        return exc.exit_code
    except ExpressionError as exc:
        print(f"vtex-bridge hook {action}: invalid JSONata expression: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    except SecretFileError as exc:
        print(f"vtex-bridge hook {action}: {exc}", file=sys.stderr)
        return 2


async def _run_each(
    action: str, args: argparse.Namespace, settings: Settings, accounts: tuple[Account, ...]
) -> int:
    """Run `action` for each account in turn; a VTEX refusal for one is reported and the rest still run.

    With `--all-accounts`, the accounts configured without an appToken are passed over (their hook
    cannot be read or changed from here), and so are, for `set` and `ensure`, those without a hook
    secret: their hooks are not received by this bridge (e.g. feed only), so pointing a hook at the
    ingress would only get refused notifications. The silence check covers every account with a
    hook secret."""
    from bridge.vtex.config_api import ConfigApiClient

    failures: list[int] = []
    heard = [a.name for a in accounts if a.hook_secrets]
    if getattr(args, "all_accounts", False):
        accounts = _manageable(accounts, need_secret=action in ("set", "ensure"))
    for account in accounts:
        try:
            async with ConfigApiClient.for_account(account, settings) as client:
                code = await _ACTIONS[action](args, settings, account, client)
        except ConfigApiError as exc:
            print(f"vtex-bridge hook {action}: account {account.name}: {exc.user_message()}", file=sys.stderr)
            code = exc.exit_code
        if code:
            failures.append(code)
    if len(accounts) > 1 and failures:
        print(
            f"vtex-bridge hook {action}: {len(failures)} of {len(accounts)} account(s) failed",
            file=sys.stderr,
        )
    code = failures[0] if failures else 0
    if action == "ensure" and not args.skip_silence_check:
        silent = await check_ingress_silence(args, settings, heard)
        if silent and args.fail_on_silence and not code:
            code = EXIT_SILENT
    return code


# --- actions -------------------------------------------------------------------------------------------


async def _show(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    current = await client.get_hook_config()
    if current is None:
        print(
            f"vtex-bridge hook show: account {account.name}: no hook is configured for its appKey",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    _print_json({"account": account.name, **mask_headers(current)})
    return 0


async def _delete(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    await client.delete_hook_config()
    print(f"account {account.name}: hook deleted", file=sys.stderr)
    return 0


async def _set(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    desired = desired_hook_config(args, settings, account)
    if _refused_narrowing(args, account, await client.get_hook_config(), desired):
        return EXIT_FILTER_NARROWS
    await client.set_hook_config(desired)
    print(f"account {account.name}: hook configured: {desired.filter.type} -> {desired.url}", file=sys.stderr)
    return 0


async def _ensure(
    args: argparse.Namespace, settings: Settings, account: Account, client: ConfigApiClient
) -> int:
    desired = desired_hook_config(args, settings, account)
    current = await client.get_hook_config()
    difference = hook_difference(current, desired)
    if difference is None:
        print(f"account {account.name}: hook unchanged: already configured as desired", file=sys.stderr)
        return 0
    if _refused_narrowing(args, account, current, desired):
        return EXIT_FILTER_NARROWS
    await client.set_hook_config(desired)
    print(
        f"account {account.name}: hook configured ({difference}): {desired.filter.type} -> {desired.url}",
        file=sys.stderr,
    )
    return 0


def _refused_narrowing(
    args: argparse.Namespace, account: Account, current: dict[str, Any] | None, desired: HookConfig
) -> bool:
    """Print the difference and return True when `desired` narrows the configured filter unasked."""
    from bridge.vtex.filter_scope import narrowing

    existing = _configured_filter(current)
    narrower = None if existing is None else narrowing(existing, desired.filter)
    if narrower is None:
        return False
    verb = "replacing" if args.replace_filter else "refusing to replace"
    print(f"account {account.name}: {verb} a hook filter that notifies more:", file=sys.stderr)
    for line in narrower.lines():
        print(line, file=sys.stderr)
    if args.replace_filter:
        return False
    print(
        f"vtex-bridge hook {args.hook_action}: account {account.name}: the desired filter would stop "
        "notifying these changes; pass --replace-filter to replace it anyway",
        file=sys.stderr,
    )
    return True


def _configured_filter(current: dict[str, Any] | None) -> Filter | None:
    """Return the filter of VTEX's GET answer, None when there is no hook or it cannot be read."""
    if current is None:
        return None
    try:
        return filter_from_json(current.get("filter"))
    except ConfigApiError:
        return None


def _manageable(accounts: tuple[Account, ...], *, need_secret: bool) -> tuple[Account, ...]:
    """Return the accounts whose hook this command can manage, naming the others on stderr."""
    kept = []
    for account in accounts:
        if not account.app_token.get_secret_value():
            why = "no app token configured (its hook cannot be managed from here)"
        elif need_secret and not account.hook_secrets:
            why = "no hook secret configured (its hooks are not received here)"
        else:
            kept.append(account)
            continue
        print(f"account {account.name}: skipped: {why}", file=sys.stderr)
    return tuple(kept)


_ACTIONS: Final = {"show": _show, "delete": _delete, "set": _set, "ensure": _ensure}


# --- building the desired configuration --------------------------------------------------------------


class SecretFileError(ValueError):
    """The secret file is missing, unreadable or empty (its content is never shown)."""


def read_secret(settings: Settings, secret_file: Path | None, account: Account | None = None) -> str:
    """Return the hook secret VTEX must send for `account`.

    The file's first line when `--secret-file` names one (or `control_hook_secret_file`, for the
    settings' own account), else the account's current secret (its first), else `hook_secret`."""
    own = account is None or account.name == settings.vtex_account
    path = secret_file or (settings.control_hook_secret_file if own else None)
    if path is None:
        if account is None:
            return settings.hook_secret.get_secret_value()
        return account.hook_secrets[0].get_secret_value() if account.hook_secrets else ""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SecretFileError(f"cannot read the secret file {path}: {exc.strerror}") from None
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise SecretFileError(f"the secret file {path} is empty")
    return secret


def filter_from_args(args: argparse.Namespace, *, for_hook: bool, fallback: Filter | None) -> Filter:
    """Return the filter the options describe (or `fallback`), warning about unlikely statuses."""
    from bridge.expressions import compile_expression

    statuses = [s for value in args.status for s in value.split(",")]
    given = statuses or args.expression is not None or args.disable_single_fire is not None
    if not given and args.filter_type is None and fallback is not None:
        chosen = fallback
    else:
        chosen = build_filter(
            filter_type=args.filter_type,
            statuses=statuses,
            expression=args.expression,
            disable_single_fire=args.disable_single_fire,
        )
    if isinstance(chosen, OrdersFilter):
        compile_expression(chosen.expression)  # a syntax error would make VTEX match nothing, silently
    else:
        for warning in status_warnings(chosen.statuses, for_hook=for_hook):
            print(f"warning: {warning}", file=sys.stderr)
    return chosen


def default_hook_filter(settings: Settings) -> Filter:
    """Return the filter of the settings: the expression, else the statuses, else every change.

    Every change (FromOrders `$exists(orderId)`, `disableSingleFire`) is the default because a
    FromWorkflow list cannot name every state VTEX notifies (the null state, `payment-denied`,
    undocumented statuses): those would never reach the bridge."""
    from bridge.vtex.filter_scope import EVERY_CHANGE

    if settings.control_hook_expression:
        return OrdersFilter(settings.control_hook_expression, settings.control_hook_disable_single_fire)
    statuses = [s.strip() for s in settings.control_hook_statuses.split(",") if s.strip()]
    if not statuses:
        return EVERY_CHANGE
    return WorkflowFilter(tuple(dict.fromkeys(statuses)))


def desired_hook_config(
    args: argparse.Namespace, settings: Settings, account: Account | None = None
) -> HookConfig:
    """Return the hook configuration the options and settings ask for, checked like VTEX would."""

    url = args.url or settings.control_hook_url or settings.dev_public_hook_url
    if not url:
        raise VtexBadRequest(
            "no hook URL given",
            status=400,
            hint="pass --url or set VTEX_BRIDGE_CONTROL_HOOK_URL to the ingress's public https URL",
            local=True,
        )
    validate_hook_url(url, allow_http=args.allow_http)
    chosen = filter_from_args(args, for_hook=True, fallback=default_hook_filter(settings))
    secret = read_secret(settings, args.secret_file, account)
    header = account.hook_header if account is not None else settings.hook_secret_header
    headers = {header: secret} if secret else {}
    if not secret:
        whose = f" for account {account.name}" if account is not None else ""
        print(
            f"warning: no hook secret configured{whose}; the ingress will refuse the notifications",
            file=sys.stderr,
        )
    return HookConfig(filter=chosen, url=url, headers=headers)


def hook_difference(current: dict[str, Any] | None, desired: HookConfig) -> str | None:
    """Return why `current` (VTEX's GET) differs from `desired`, or None when it does not.

    Header values are compared when VTEX shows them; a GET without headers cannot reveal a rotated
    secret, so `hook set` is the way to push a new one (REFERENCE.md section 5: the GET is undocumented).
    """

    if current is None:
        return "no hook was configured"
    hook = current.get("hook") if isinstance(current.get("hook"), dict) else {}
    assert isinstance(hook, dict)
    if hook.get("url") != desired.url:
        return "URL differs"
    try:
        existing = filter_from_json(current.get("filter"))
    except ConfigApiError:
        return "filter unreadable"
    if isinstance(existing, WorkflowFilter) and isinstance(desired.filter, WorkflowFilter):
        if set(existing.statuses) != set(desired.filter.statuses):
            return "statuses differ"
    elif existing != desired.filter:
        return "filter differs"
    headers = hook.get("headers")
    if isinstance(headers, dict):
        shown = {str(k).lower(): str(v) for k, v in headers.items()}
        wanted = {k.lower(): v for k, v in desired.headers.items()}
        if shown.keys() != wanted.keys():
            return "headers differ"
        # A value VTEX shows masked (or empty) cannot be compared; re-posting it every run would break
        # "no change, no call", so only visible values count.
        if any(not _looks_masked(shown[k]) and shown[k] != wanted[k] for k in wanted):
            return "headers differ"
    return None


def _looks_masked(value: str) -> bool:
    return not value.strip("*x#• ")


def mask_headers(config: dict[str, Any]) -> dict[str, Any]:
    """Return `config` with every hook header value and the appKey (if VTEX echoes it) masked."""
    shown = dict(config)
    hook = shown.get("hook")
    if isinstance(hook, dict) and isinstance(hook.get("headers"), dict):
        shown["hook"] = {**hook, "headers": dict.fromkeys(hook["headers"], MASK)}
    origin = shown.get("origin")
    if isinstance(origin, dict):
        shown["origin"] = {k: MASK if k.lower() == "key" else v for k, v in origin.items()}
    return shown


def _print_json(value: Any) -> None:
    import orjson

    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


# --- ingress silence ---------------------------------------------------------------------------------


async def check_ingress_silence(
    args: argparse.Namespace, settings: Settings, accounts: list[str] | None = None
) -> bool:
    """Warn (stderr) for each account the ingress saw no hook of for too long; return True if any.

    `accounts` defaults to the settings' own account; the metrics are read once for all of them."""
    import time

    names = accounts if accounts is not None else [settings.vtex_account]
    url = args.ingress_metrics_url or settings.control_ingress_metrics_url
    url = url or f"http://{settings.ingress_metrics_host}:{settings.ingress_metrics_port}/metrics"
    limit = (
        args.silence_warn_after
        if args.silence_warn_after is not None
        else settings.control_hook_silence_warn_s
    )
    try:
        newest = await newest_hook_times(url)
    except Exception as exc:  # any failure to read metrics is a warning, never a failed ensure
        print(f"warning: cannot read the ingress metrics at {url} ({type(exc).__name__})", file=sys.stderr)
        return False
    silent = False
    for name in names:
        last = newest.get(name)
        if last is None or last <= 0:
            print(
                f"warning: the ingress at {url} has received no hook for account {name} "
                "since it started; check VTEX can reach the hook URL",
                file=sys.stderr,
            )
            silent = True
            continue
        age = time.time() - last
        if age > limit:
            print(
                f"warning: no hook for account {name} for {age / 3600:.1f} h "
                f"(limit {limit / 3600:.1f} h); VTEX deletes a hook after 3 days without notifications",
                file=sys.stderr,
            )
            silent = True
    return silent


async def addresses_of(host: str, port: int | None) -> list[str]:
    """Return every address `host` resolves to (a headless Service: one per pod), in a stable order."""
    import asyncio
    import socket

    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def newest_hook_received(metrics_url: str, account: str) -> float | None:
    """Return the newest last-hook time for `account` over every address of the URL's host."""
    return (await newest_hook_times(metrics_url)).get(account)


async def newest_hook_times(metrics_url: str) -> dict[str, float]:
    """Return, per account, the newest last-hook time over every address of the URL's host.

    Behind a headless Service each address is one ingress pod, and each pod only knows the hooks it
    received itself: one pod picked by a load-balanced Service may be fresh and have seen none. Pods
    that cannot be read are passed over; when none can, the first failure is raised.
    """
    import asyncio

    from yarl import URL

    url = URL(metrics_url)
    if url.host is None:
        raise ValueError(f"no host in {metrics_url}")
    addresses = await addresses_of(url.host, url.port)
    answers = await asyncio.gather(
        *(last_hook_times(str(url.with_host(address))) for address in addresses),
        return_exceptions=True,
    )
    failures = [a for a in answers if isinstance(a, BaseException)]
    if failures and len(failures) == len(answers):
        raise failures[0]
    newest: dict[str, float] = {}
    for answer in answers:
        if isinstance(answer, dict):
            for account, seen in answer.items():
                newest[account] = max(seen, newest.get(account, seen))
    return newest


async def last_hook_received(metrics_url: str, account: str) -> float | None:
    """Return the ingress gauge's Unix time of the last hook for `account`, None when absent."""
    return (await last_hook_times(metrics_url)).get(account)


async def last_hook_times(metrics_url: str) -> dict[str, float]:
    """Return the ingress gauge's Unix time of the last hook, per account (one read of `/metrics`)."""
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=METRICS_TIMEOUT_S)) as session,
        session.get(metrics_url) as response,
    ):
        if response.status != 200:
            raise ValueError(f"metrics endpoint answered {response.status}")
        text = await response.text()
    times: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == LAST_HOOK_METRIC and "account" in sample.labels:
                times[sample.labels["account"]] = float(sample.value)
    return times
