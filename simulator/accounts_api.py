"""The simulator's account-level endpoints: the account listing and the errors for unserved accounts.

They sit on the root application and on every Host-selected one (`simulator.hosts`), so they read the
accounts through `request.config_dict`, which reaches the root's `ACCOUNTS` from any nested app.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from simulator.context import ACCOUNTS
from simulator.errors import error_response

#: Path prefix of one account's endpoints: `/accounts/{account}/api/oms/pvt/orders/...`.
ACCOUNT_PREFIX = "/accounts/"


def no_such_account(name: str, served: Iterable[str], *, named_by: str = "") -> web.Response:
    """404 naming the account asked for and the accounts served (`named_by` says where it was named)."""
    where = f", named by {named_by}" if named_by else ""
    return error_response(
        404, f"The simulator serves no account {name!r}{where} (it serves {', '.join(served)})"
    )


async def list_accounts(request: web.Request) -> web.Response:
    """`GET /_sim/accounts`: every account served, primary first, with its appKey and path prefix."""
    return web.json_response(
        {
            "accounts": [
                {
                    "account": name,
                    "app_key": sim.config.app_key,
                    "path": f"{ACCOUNT_PREFIX}{name}",
                    "rate_limit_per_minute": sim.config.rate_limit_per_minute,
                }
                for name, sim in request.config_dict[ACCOUNTS].items()
            ]
        }
    )


async def unknown_account(request: web.Request) -> web.Response:
    """404 naming the accounts served, for a path under `/accounts/{account}/` that nothing serves."""
    accounts = request.config_dict[ACCOUNTS]
    name = request.match_info["account"]
    if name in accounts:
        return error_response(404, "Not Found")
    return no_such_account(name, accounts)
