"""Build and evolve OMS order documents (`GET /api/oms/pvt/orders/{orderId}`).

Documents start as a deep copy of `data/example-order.json` (whose keys match VTEX's schema) with
fresh ids, 1-4 items, a customer, an address and a payment drawn from a per-order seeded RNG, and
totals that add up (`value == Σ totals == Σ payments`, REFERENCE §2.6). `apply_transition` then moves
the document along its lifecycle: status, statusDescription, lastChange and the fields that change with
a status (authorizedDate, invoicedDate + packageAttachment, cancellationData ...).
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from simulator.catalog import ADDRESSES, CATALOG, PAYMENTS, PEOPLE, STATUS_DESCRIPTIONS


@cache
def _template_text() -> str:
    return (resources.files("simulator") / "data" / "example-order.json").read_text(encoding="utf-8")


def template(account: str) -> dict[str, Any]:
    """Return a fresh copy of the example order, rewritten for `account`."""
    doc: dict[str, Any] = json.loads(_template_text().replace("simstore", account))
    return doc


def order_timestamp(moment: datetime) -> str:
    """Return `moment` as order documents write it: UTC, 7 fractional digits, `+00:00`."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0+00:00"


def _hex32(rng: random.Random, upper: bool = True) -> str:
    text = f"{rng.getrandbits(128):032x}"
    return text.upper() if upper else text


def build_order(order_id: str, created_at: datetime, *, account: str, seed: int) -> dict[str, Any]:
    """Return the order document of `order_id` as created; deterministic in (seed, order_id)."""
    rng = random.Random(f"{seed}:{order_id}")
    doc = template(account)
    group = order_id.split("-")[0]
    created = order_timestamp(created_at)
    doc.update(
        orderId=order_id,
        sequence=group[-6:],
        orderGroup=group,
        sellerOrderId=f"00-{order_id}",
        status="order-created",
        statusDescription=STATUS_DESCRIPTIONS["order-created"],
        creationDate=created,
        lastChange=created,
        orderFormId=_hex32(rng, upper=False),
        isCompleted=False,
        authorizedDate=None,
        invoicedDate=None,
        cancelReason=None,
        cancellationData=None,
        allowCancellation=True,
        packageAttachment={"packages": []},
    )
    items, metadata, logistics, items_total = _items(doc, rng, order_id, created_at)
    shipping = sum(li["price"] for li in logistics)
    discount = -round(items_total * 0.05) if rng.random() < 0.2 else 0
    value = items_total + discount + shipping
    doc["items"] = items
    doc["itemMetadata"] = {"Items": metadata}
    doc["totals"] = [
        {"id": "Items", "name": "Total dos Itens", "value": items_total},
        {"id": "Discounts", "name": "Total dos Descontos", "value": discount},
        {"id": "Shipping", "name": "Total do Frete", "value": shipping},
        {"id": "Tax", "name": "Total da Taxa", "value": 0},
    ]
    doc["value"] = value
    if discount:
        doc["marketingData"] = {
            "id": "marketingData",
            "utmSource": "newsletter",
            "utmPartner": None,
            "utmMedium": "email",
            "utmCampaign": "sim",
            "coupon": "SIM5",
            "utmiCampaign": None,
            "utmipage": None,
            "utmiPart": None,
            "marketingTags": [],
        }
    _customer(doc, rng)
    doc["shippingData"]["logisticsInfo"] = logistics
    _payment(doc, rng, value)
    return doc


def _items(
    doc: dict[str, Any], rng: random.Random, order_id: str, created_at: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], int]:
    item_template = doc["items"][0]
    meta_template = doc["itemMetadata"]["Items"][0]
    logistics_template = doc["shippingData"]["logisticsInfo"][0]
    products = rng.sample(CATALOG, rng.randint(1, 4))
    items: list[dict[str, Any]] = []
    metadata: list[dict[str, Any]] = []
    logistics: list[dict[str, Any]] = []
    total = 0
    for index, (sku, product, name, sku_name, ref, price, list_price) in enumerate(products):
        quantity = rng.randint(1, 3)
        item = copy.deepcopy(item_template)
        item.update(
            uniqueId=_hex32(rng),
            id=sku,
            productId=product,
            sellerSku=sku,
            refId=ref,
            ean=f"78900000{sku}{index}",
            lockId=f"00-{order_id}",
            name=name,
            quantity=quantity,
            price=price,
            listPrice=list_price,
            sellingPrice=price,
            costPrice=price // 2,
            imageUrl=item["imageUrl"].replace("ct500-az", ref.lower()),
            detailUrl=f"/{ref.lower()}/p",
            priceValidUntil=order_timestamp(created_at + timedelta(days=365)),
            priceDefinition={
                "sellingPrices": [{"value": price, "quantity": quantity}],
                "calculatedSellingPrice": price,
                "total": price * quantity,
                "reason": None,
            },
        )
        items.append(item)
        meta = copy.deepcopy(meta_template)
        meta.update(Id=sku, Name=name, SkuName=sku_name, ProductId=product, RefId=ref, Ean=item["ean"])
        meta.update(ImageUrl=item["imageUrl"], DetailUrl=item["detailUrl"])
        metadata.append(meta)
        freight = rng.choice((0, 500, 1000, 1500))
        li = copy.deepcopy(logistics_template)
        li.update(itemIndex=index, price=freight, listPrice=freight, sellingPrice=freight)
        li["slas"][0]["price"] = freight
        li["deliveryIds"][0]["quantity"] = quantity
        li["shippingEstimateDate"] = order_timestamp(created_at + timedelta(days=5))
        logistics.append(li)
        total += price * quantity
    return items, metadata, logistics, total


def _customer(doc: dict[str, Any], rng: random.Random) -> None:
    first, last = rng.choice(PEOPLE)
    email = f"{first.lower()}.{last.lower()}{rng.randrange(1000)}@example.com"
    profile = doc["clientProfileData"]
    profile.update(
        email=email,
        firstName=first,
        lastName=last,
        document=f"{rng.randrange(10**10, 10**11)}",
        phone=f"+55119{rng.randrange(10**7, 10**8)}",
        userProfileId=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )
    postal, city, state, street, neighborhood = rng.choice(ADDRESSES)
    address = doc["shippingData"]["address"]
    address.update(
        receiverName=f"{first} {last}",
        addressId=f"{rng.getrandbits(48):012x}",
        postalCode=postal,
        city=city,
        state=state,
        street=street,
        number=str(rng.randint(1, 3000)),
        neighborhood=neighborhood,
    )
    doc["shippingData"]["selectedAddresses"] = [copy.deepcopy(address)]
    for contact in doc["shippingData"].get("contactInformation") or []:
        contact.update(email=email, firstName=first, lastName=last, document=profile["document"])


def _payment(doc: dict[str, Any], rng: random.Random, value: int) -> None:
    system, name, group = rng.choice(PAYMENTS)
    transaction = doc["paymentData"]["transactions"][0]
    transaction["transactionId"] = _hex32(rng)
    payment = transaction["payments"][0]
    card = group == "creditCard"
    payment.update(
        id=_hex32(rng),
        paymentSystem=system,
        paymentSystemName=name,
        group=group,
        value=value,
        referenceValue=value,
        installments=rng.choice((1, 1, 2, 3)) if card else 1,
        firstDigits="411111" if card else None,
        lastDigits=f"{rng.randrange(10**4):04d}" if card else None,
        tid=str(rng.randrange(10**7, 10**8)),
    )
    payment["connectorResponses"] = {"Tid": payment["tid"], "ReturnCode": None, "Message": None}
    transaction["payments"] = [payment]


def apply_transition(doc: dict[str, Any], state: str | None, at: datetime) -> None:
    """Move `doc` to `state` at `at`, updating the fields that go with that status."""
    stamp = order_timestamp(at)
    doc["status"] = state
    doc["statusDescription"] = STATUS_DESCRIPTIONS.get(state or "", "")
    doc["lastChange"] = stamp
    payment = doc["paymentData"]["transactions"][0]["payments"][0]
    if state == "payment-approved":
        doc["authorizedDate"] = stamp
        payment["connectorResponses"].update(ReturnCode="00", Message="Authorized")
    elif state == "payment-denied":
        payment["connectorResponses"].update(ReturnCode="51", Message="Denied")
    elif state in ("ready-for-handling", "handling"):
        doc["allowCancellation"] = state == "ready-for-handling"
    elif state in ("invoiced", "invoice-after-cancellation-deny"):
        _invoice(doc, stamp)
    elif state in ("request-cancel", "cancel", "canceled"):
        _cancel(doc, stamp, state)


def _invoice(doc: dict[str, Any], stamp: str) -> None:
    doc["isCompleted"] = True
    doc["allowCancellation"] = False
    if doc["packageAttachment"]["packages"]:
        return
    doc["invoicedDate"] = stamp
    number = doc["sequence"]
    doc["packageAttachment"] = {
        "packages": [
            {
                "items": [
                    {
                        "itemIndex": index,
                        "quantity": item["quantity"],
                        "price": item["sellingPrice"],
                        "description": item["name"],
                        "unitMultiplier": item["unitMultiplier"],
                    }
                    for index, item in enumerate(doc["items"])
                ],
                "courier": "Transportadora Sim",
                "invoiceNumber": number,
                "invoiceValue": doc["value"],
                "invoiceUrl": None,
                "issuanceDate": stamp,
                "trackingNumber": f"SIM{number}BR",
                "invoiceKey": None,
                "trackingUrl": f"https://tracking.example/SIM{number}BR",
                "embeddedInvoice": "",
                "type": "Output",
                "courierStatus": None,
                "cfop": None,
                "restitutions": {},
                "volumes": None,
                "EnableInferItems": None,
            }
        ]
    }


def _cancel(doc: dict[str, Any], stamp: str, state: str) -> None:
    doc["allowCancellation"] = False
    if doc["cancellationData"] is None:
        doc["cancelReason"] = "Pedido cancelado pelo cliente"
        doc["cancellationData"] = {
            "RequestedByUser": True,
            "RequestedBySystem": False,
            "RequestedBySellerNotification": False,
            "RequestedByPaymentNotification": False,
            "Reason": doc["cancelReason"],
            "CancellationDate": stamp,
        }
    if state == "canceled":
        doc["paymentData"]["transactions"][0]["isActive"] = False
