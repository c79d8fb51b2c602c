"""Account selection by Host header: `storeb.vtexcommercestable.com.br` reaches account `storeb`.

VTEX serves account X at `https://X.vtexcommercestable.com.br` (REFERENCE §1), so a bridge that keeps
that base URL (a DNS entry or a proxy pointing the name at the simulator) names the account in the Host
header, not in the path. Each account served gets an aiohttp domain sub-application (`X.*`) holding the
same endpoints as its `/accounts/X/` prefix over the same runtime bundle; aiohttp tries domain
sub-applications before any path, so Host `X.…` reaches account X whatever account the root serves.

Under a Host-selected account the path form still works for that account (`/accounts/X/…`), while a
path naming another account is refused (400) rather than silently served as one of the two. A Host in
one of VTEX's domains (or `*.localhost`) whose first label is no account served gets the path form's
404 naming the accounts served. Any other Host (an IP, `localhost`, a service name) selects nothing:
the root and the path prefixes serve as without this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from aiohttp import web

from bridge.identifiers import account_name_problem
from simulator.accounts_api import ACCOUNT_PREFIX, list_accounts, no_such_account
from simulator.context import ACCOUNTS, SIMULATOR, Simulator
from simulator.errors import error_response

#: Domains whose first label is always an account name: VTEX's environments, and `localhost` (RFC 6761
#: names `X.localhost` loopback, so it needs no DNS entry where the resolver follows that).
ACCOUNT_DOMAINS: Final = ("vtexcommercestable.com.br", "vtexcommercebeta.com.br", "myvtex.com", "localhost")

#: Adds one account's endpoints to an application (the same call the root and the prefixes use).
ServeAccount = Callable[[web.Application, Simulator], None]


def serve_by_host(app: web.Application, accounts: Mapping[str, Simulator], serve: ServeAccount) -> None:
    """Add to the root `app` one domain sub-application per account, then the unknown-account catchers."""
    for name, sim in accounts.items():
        if account_name_problem(name) is not None:
            continue  # no host label can name it; the path form still serves it
        by_host = web.Application()
        serve(by_host, sim)
        own_prefix = web.Application()
        serve(own_prefix, sim)
        by_host.add_subapp(f"{ACCOUNT_PREFIX}{name}/", own_prefix)
        by_host.router.add_get("/_sim/accounts", list_accounts)
        by_host.router.add_route("*", ACCOUNT_PREFIX + "{account}/{tail:.*}", other_account_in_path)
        app.add_domain(f"{name}.*", by_host)
    for domain in ACCOUNT_DOMAINS:
        unknown = web.Application()
        unknown.router.add_route("*", "/{tail:.*}", unknown_host_account)
        app.add_domain(f"*.{domain}", unknown)


def host_label(host: str) -> str:
    """Return the first label of a Host header value (`storeb.example.com:443` -> `storeb`)."""
    return host.partition(":")[0].partition(".")[0]


async def other_account_in_path(request: web.Request) -> web.Response:
    """A path under `/accounts/Y/` while the Host names account X: 404 for an unknown Y, else 400."""
    accounts = request.config_dict[ACCOUNTS]
    named = request.match_info["account"]
    if named not in accounts:
        return no_such_account(named, accounts)
    by_host = request.app[SIMULATOR].config.account
    return error_response(
        400,
        f"The Host header names account {by_host!r} and the path account {named!r}: "
        "name the account in one of them",
    )


async def unknown_host_account(request: web.Request) -> web.Response:
    """404 naming the accounts served, for a Host in an account domain whose account nothing serves."""
    accounts = request.config_dict[ACCOUNTS]
    return no_such_account(host_label(request.host), accounts, named_by="the Host header")
