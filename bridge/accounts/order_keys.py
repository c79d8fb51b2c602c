"""The key of an order in the worker's lanes, de-dup state and timelines: the account and the OrderId.

The same OrderId may exist in two accounts, so a key names the account, except in the default account,
whose keys stay the bare OrderId (state written before several accounts were served stays valid).
"""

from __future__ import annotations

from typing import Final

#: Between account and OrderId in an order key (neither an account name nor an OrderId holds it).
ORDER_KEY_SEPARATOR: Final = "/"


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
