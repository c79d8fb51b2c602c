"""Mask what the console shows by an ALLOW-LIST: only the fields an operator needs are shown in clear.

The console serves orders to support staff who need the order's ids, statuses, dates, items (SKU, name,
quantity, price), totals, shipping method and seller, not the customer. A deny-list of sensitive keys
always lags behind what VTEX adds to an order (boleto URLs, NF-e XML, tracking numbers, attachments,
free-text fields...), so the rule is the other way round: a leaf (a string, number or boolean) is shown
only when its path is listed in `ORDER_FIELDS` (the OMS order document) or `EVENT_FIELDS` (an input
event, as dead letters carry it); every other leaf becomes `***`. Nulls stay null (they show nothing).

Paths are the keys from the document's root joined by dots, list indexes left out: `items.quantity` is
the quantity of every item. Three keys of the customer's profile keep a hint, enough to match a customer
on the phone but not to contact one: the email (`a***@e***.com`), the document and the phone (last two
characters). Emails inside an allowed string are masked too. Masking works on a deep copy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

MASK: Final = "***"


def _paths(*groups: tuple[str, tuple[str, ...]]) -> frozenset[str]:
    return frozenset(f"{prefix}.{name}" if prefix else name for prefix, names in groups for name in names)


#: Leaves of the OMS order document shown in clear (see the module docstring for the path syntax).
ORDER_FIELDS: Final = _paths(
    (
        "",
        (
            "orderId", "sequence", "marketplaceOrderId", "sellerOrderId", "orderGroup", "origin",
            "affiliateId", "salesChannel", "hostname", "status", "statusDescription", "workflowIsInError",
            "isCompleted", "allowCancellation", "allowEdition", "isCheckedIn", "creationDate", "lastChange",
            "authorizedDate", "invoicedDate", "value", "roundingError",
        ),
    ),
    ("totals", ("id", "name", "value")),
    (
        "items",
        (
            "id", "productId", "refId", "ean", "sellerSku", "name", "quantity", "price", "listPrice",
            "sellingPrice", "measurementUnit", "unitMultiplier", "seller", "isGift", "tax",
        ),
    ),
    ("items.priceDefinition", ("total", "calculatedSellingPrice")),
    ("items.priceDefinition.sellingPrices", ("quantity", "value")),
    ("itemMetadata.Items", ("Id", "ProductId", "RefId", "Name", "SkuName", "Seller")),
    ("sellers", ("id", "name")),
    ("marketplace", ("name",)),
    (
        "shippingData.logisticsInfo",
        (
            "itemIndex", "selectedSla", "selectedDeliveryChannel", "deliveryCompany", "shippingEstimate",
            "shippingEstimateDate", "price", "listPrice", "sellingPrice",
        ),
    ),
    ("shippingData.logisticsInfo.deliveryChannels", ("id",)),
    (
        "shippingData.logisticsInfo.deliveryIds",
        ("courierId", "courierName", "warehouseId", "dockId", "quantity"),
    ),
    ("shippingData.logisticsInfo.slas", ("id", "name", "price", "shippingEstimate", "deliveryChannel")),
    ("paymentData.transactions", ("transactionId", "isActive")),
    (
        "paymentData.transactions.payments",
        ("id", "group", "paymentSystem", "paymentSystemName", "installments", "value", "referenceValue"),
    ),
    ("packageAttachment.packages", ("invoiceNumber", "issuanceDate", "invoiceValue", "type", "courier")),
    ("packageAttachment.packages.items", ("itemIndex", "quantity", "price")),
    (
        "cancellationData",
        (
            "CancellationDate", "RequestedByUser", "RequestedBySystem", "RequestedBySellerNotification",
            "RequestedByPaymentNotification",
        ),
    ),
    ("storePreferencesData", ("currencyCode", "currencySymbol", "countryCode", "timeZone")),
    ("storePreferencesData.currencyFormatInfo", ("CurrencyDecimalDigits",)),
)  # fmt: skip

#: Leaves of an input event (the hook payload plus the bridge's fields) shown in clear; `Origin.Key`
#: (the appKey) is not among them.
EVENT_FIELDS: Final = _paths(
    (
        "",
        (
            "Domain", "OrderId", "State", "LastState", "LastChange", "CurrentChange", "event_id",
            "received_at", "source", "account",
        ),
    ),
    ("Origin", ("Account",)),
)  # fmt: skip

#: Paths that keep a hint of the value instead of `***`, with the function that makes it.
HINTED: Final = {
    "clientProfileData.email": "email",
    "clientProfileData.document": "number",
    "clientProfileData.phone": "number",
}

_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask_email(value: str) -> str:
    """Return `a***@e***.com` for `ana@example.com`: the first letters and the top-level domain."""
    local, _, domain = value.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}{MASK}@{host[:1]}{MASK}.{tld}" if tld else f"{local[:1]}{MASK}"


def mask_number(value: str) -> str:
    """Return `***09` for `12345678909`: the last two characters only."""
    return MASK + value[-2:] if len(value) > 4 else MASK


def mask_text(text: str) -> str:
    """Mask the emails in a free text the bridge wrote (a dead letter's detail can quote an OMS answer)."""
    return _EMAIL.sub(lambda m: mask_email(m.group(0)), text)


def mask(value: Any, allowed: frozenset[str] = ORDER_FIELDS) -> Any:
    """Return a masked deep copy of a JSON-like value: only the leaves at `allowed` paths in clear."""
    return _mask(value, "", allowed)


def mask_order(order: Any) -> Any:
    """Mask an OMS order document (`ORDER_FIELDS`)."""
    return _mask(order, "", ORDER_FIELDS)


def mask_event(event: Any) -> Any:
    """Mask an input event (`EVENT_FIELDS`)."""
    return _mask(event, "", EVENT_FIELDS)


def _mask(value: Any, path: str, allowed: frozenset[str]) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): _mask(v, f"{path}.{k}" if path else str(k), allowed) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(item, path, allowed) for item in value]
    if path in allowed:
        return _EMAIL.sub(lambda m: mask_email(m.group(0)), value) if isinstance(value, str) else value
    hint = HINTED.get(path)
    if hint is not None and isinstance(value, str):
        return mask_email(value) if hint == "email" else mask_number(value)
    return MASK
