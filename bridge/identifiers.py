"""The shape of the identifiers the bridge accepts from the outside: VTEX OrderIds and account names.

An OrderId ends up in an OMS URL path (`/api/oms/pvt/orders/{orderId}`), a Kafka key, logs and the
console. Accepting any string let a notification steer the worker's authenticated calls to another
VTEX endpoint (`../../catalog/...`), another order (`…#x`) or add a query (`?a=1`), so every entry
point (ingress, Feed v3 poller, backfill, CLI and console lookups) checks ids with this one module
before using them, and the VTEX clients percent-encode every path segment anyway.

The rule follows the ids VTEX documents and uses (REFERENCE.md section 2): `1172452900788-01`,
`v70530116str-01`, `seq501456`, seller ids such as `00-v502556llux-01`, marketplace-prefixed ones
(`SLR-…`, `MKP-…`, `FRN-…`): letters, digits, `-`, `_` and `.`, at most `ORDER_ID_MAX_LENGTH`, never
`..` nor a lone `.` (dot segments would walk the URL path whatever the encoding).

An account name is the first DNS label of `https://{account}.vtexcommercestable.com.br`, so it must be
one: letters, digits and inner `-`, at most 63 characters.

Pure functions, no I/O: `*_problem` returns the reason a value is refused (None when it is fine),
`validate_*` returns the value or raises `InvalidIdentifier` with that reason.
"""

from __future__ import annotations

import re
from typing import Final

ORDER_ID_MAX_LENGTH: Final = 128
ACCOUNT_NAME_MAX_LENGTH: Final = 63

_ORDER_ID_CHARS: Final = re.compile(r"[A-Za-z0-9._-]+")
_ACCOUNT_NAME: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

#: The same rule as a JSON Schema (ECMA-262) pattern; schemas/hook-notification.schema.json holds it
#: and tests check the two agree.
ORDER_ID_SCHEMA_PATTERN: Final = r"^(?!\.$)(?!.*\.\.)[A-Za-z0-9._-]{1,128}$"


class InvalidIdentifier(ValueError):
    """An identifier broke its rule; `field` names it (e.g. `OrderId`), `reason` says how."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def order_id_problem(value: object) -> str | None:
    """Return why `value` is not a VTEX OrderId (a phrase after the field name), or None when it is."""
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return "must not be empty"
    if len(value) > ORDER_ID_MAX_LENGTH:
        return f"must be at most {ORDER_ID_MAX_LENGTH} characters long (has {len(value)})"
    if _ORDER_ID_CHARS.fullmatch(value) is None:
        bad = next(c for c in value if _ORDER_ID_CHARS.fullmatch(c) is None)
        return f"may hold only letters, digits, '-', '_' and '.' (found {_describe(bad)})"
    if value == "." or ".." in value:
        return "must not be '.' nor contain '..'"
    return None


def validate_order_id(value: object, field: str = "OrderId") -> str:
    """Return `value` when it is a valid OrderId, else raise `InvalidIdentifier` naming `field`."""
    return _validated(value, field, order_id_problem(value))


def account_name_problem(value: object) -> str | None:
    """Return why `value` cannot be a VTEX account name (a DNS label), or None when it can."""
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return "must not be empty"
    if len(value) > ACCOUNT_NAME_MAX_LENGTH:
        return f"must be at most {ACCOUNT_NAME_MAX_LENGTH} characters long (has {len(value)})"
    if _ACCOUNT_NAME.fullmatch(value) is None:
        return "may hold only letters, digits and '-' (not first or last), as it is part of a host name"
    return None


def validate_account_name(value: object, field: str = "account") -> str:
    """Return `value` when it is a valid account name, else raise `InvalidIdentifier` naming `field`."""
    return _validated(value, field, account_name_problem(value))


def _validated(value: object, field: str, problem: str | None) -> str:
    """Return `value` when `problem` (what its rule found) is None, else raise naming `field`."""
    if problem is not None:
        raise InvalidIdentifier(field, problem)
    assert isinstance(value, str)  # every rule refuses a non-string
    return value


def _describe(char: str) -> str:
    """Name a refused character without echoing control characters into a message or a log."""
    if char.isprintable() and not char.isspace():
        return repr(char)
    return f"U+{ord(char):04X}"
