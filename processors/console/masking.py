"""Mask what the console shows: customer contact data, names and addresses, and anything secret-looking.

The console serves orders to support staff who need the order's shape and status, not the customer: so
the email, document and phone numbers are masked down to a hint (enough to match a customer on the
phone, not to contact or identify one), names and street addresses likewise, card data and anything
whose key looks like a credential is replaced whole. Masking works on a deep copy, by key name, anywhere
in the document (VTEX repeats addresses and profiles in several places), plus any email-like string
under any other key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

MASK: Final = "***"

#: Keys whose values are replaced whole (credentials, card data), compared lower-case.
SECRET_KEYS: Final = frozenset(
    {
        "password",
        "secret",
        "token",
        "apptoken",
        "appkey",
        "key",
        "authorization",
        "cookie",
        "cardnumber",
        "cvv2",
        "cvv",
        "expiremonth",
        "expireyear",
        "firstdigits",
        "lastdigits",
        "cardholder",
        "redemptioncode",
        "accesskey",
    }
)
#: Substrings that make any key secret-looking.
SECRET_HINTS: Final = ("token", "secret", "password", "apikey", "api_key", "credential")

EMAIL_KEYS: Final = frozenset({"email", "followupemail"})
#: Identity documents and phones: keep the last two characters.
NUMBER_KEYS: Final = frozenset(
    {"document", "corporatedocument", "stateinscription", "phone", "corporatephone", "homephone"}
)
#: Names and street-level address parts: keep the first character.
NAME_KEYS: Final = frozenset(
    {
        "firstname",
        "lastname",
        "corporatename",
        "tradename",
        "receivername",
        "street",
        "number",
        "complement",
        "reference",
        "name_on_card",
    }
)
#: Keys that only ever hold one of the above under a parent we mask as a whole.
GEO_KEYS: Final = frozenset({"geocoordinates"})

_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask_email(value: str) -> str:
    """Return `a***@e***.com` for `ana@example.com`: the first letters and the top-level domain."""
    local, _, domain = value.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}{MASK}@{host[:1]}{MASK}.{tld}" if tld else f"{local[:1]}{MASK}"


def mask_number(value: str) -> str:
    """Return `***09` for `12345678909`: the last two characters only."""
    return MASK + value[-2:] if len(value) > 4 else MASK


def mask_name(value: str) -> str:
    return value[:1] + MASK if value else value


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_KEYS or any(hint in lowered for hint in SECRET_HINTS)


def mask(value: Any) -> Any:
    """Return a masked deep copy of a JSON-like value (see the module docstring)."""
    if isinstance(value, Mapping):
        return {str(k): _mask_item(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, str):
        return _EMAIL.sub(lambda m: mask_email(m.group(0)), value)
    return value


def _mask_item(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    lowered = key.lower()
    if is_secret_key(key):
        return MASK
    if isinstance(value, (Mapping, list)):
        return None if lowered in GEO_KEYS else mask(value)
    text = str(value)
    if lowered in EMAIL_KEYS:
        return mask_email(text)
    if lowered in NUMBER_KEYS:
        return mask_number(text)
    if lowered in NAME_KEYS:
        return mask_name(text)
    if lowered in GEO_KEYS:
        return None
    return mask(value)
