"""`--replace-filter`: `hook set|ensure` and `feed set` never narrow a configured filter silently.

A hook or feed whose filter is replaced by a narrower one stops carrying some changes without any
error (VTEX just never sends them). So before posting a filter, these commands compare it with the one
VTEX has (`bridge.vtex.filter_scope.narrowing`): when the new one would carry fewer changes they print
the difference and refuse (exit 10) unless `--replace-filter`. A widening or equal filter, or no
configuration at all, passes without a word. One rule, one wording and one exit code for both.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Final

from bridge.vtex.config_models import ConfigApiError, Filter, filter_from_json

if TYPE_CHECKING:
    from bridge.accounts import Account

#: `hook set|ensure` and `feed set` exit with this when the desired filter would narrow the configured one.
EXIT_FILTER_NARROWS: Final = 10


def add_replace_filter_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--replace-filter`, the explicit consent to narrowing a configured filter."""
    parser.add_argument(
        "--replace-filter",
        action="store_true",
        help="replace the configured filter even when the new one notifies fewer changes",
    )


def configured_filter(current: dict[str, Any] | None) -> Filter | None:
    """Return the filter of VTEX's GET answer, None when nothing is configured or it cannot be read."""
    if current is None:
        return None
    try:
        return filter_from_json(current.get("filter"))
    except ConfigApiError:
        return None


def refused_narrowing(
    command: str,
    what: str,
    account: Account,
    current: dict[str, Any] | None,
    desired: Filter,
    *,
    replace: bool,
) -> bool:
    """Print the difference and return True when `desired` narrows the configured filter unasked.

    `command` is how the refusal names itself (`hook set`, `feed set`), `what` whose filter it is
    (`hook`, `feed`), `current` VTEX's GET answer. With `replace` the difference is still printed, so
    the operator sees what the replacement costs, but nothing is refused."""
    from bridge.vtex.filter_scope import narrowing

    existing = configured_filter(current)
    narrower = None if existing is None else narrowing(existing, desired)
    if narrower is None:
        return False
    verb = "replacing" if replace else "refusing to replace"
    print(f"account {account.name}: {verb} a {what} filter that notifies more:", file=sys.stderr)
    for line in narrower.lines():
        print(line, file=sys.stderr)
    if replace:
        return False
    print(
        f"vtex-bridge {command}: account {account.name}: the desired filter would stop "
        "notifying these changes; pass --replace-filter to replace it anyway",
        file=sys.stderr,
    )
    return True
