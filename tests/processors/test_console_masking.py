"""Unit tests of the console's allow-list masking: every leaf of a full order that is not listed in
`ORDER_FIELDS` is masked, whatever its key; the listed ones (what an operator needs) stay in clear."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processors.console.masking import (
    EVENT_FIELDS,
    HINTED,
    MASK,
    ORDER_FIELDS,
    mask_email,
    mask_event,
    mask_number,
    mask_order,
)

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "simulator/data/example-order.json").read_text())

#: Customer data and secrets VTEX puts in an order beyond the example's: boleto, NF-e, tracking,
#: attachments, free text, cancellation, call-center operator, marketing and custom data.
BOLETO_URL = "https://boleto.example/pay/8f2c?cpf=12345678909"
BOLETO_LINE = "23790.12345 60000.000003 12345.678901 1 98760000032070"
NFE_XML = (
    "<nfeProc><NFe><infNFe><dest><CPF>12345678909</CPF><xNome>Ana Souza</xNome><enderDest>"
    "<xLgr>Avenida Paulista</xLgr><nro>1000</nro><xBairro>Bela Vista</xBairro><CEP>01310100</CEP>"
    "</enderDest></dest></infNFe></NFe></nfeProc>"
)
INVOICE_KEY = "35260312345678000199550010000001231000001234"
INVOICE_URL = "https://nfe.example/danfe/35260312345678000199550010000001231000001234"
TRACKING = "BR123456789XX"
TEXT_FIELD = "Deixar com o porteiro Sr. Joaquim, tel 11 99999-0000"
ENGRAVING = "Para Ana, com amor"
CANCEL_REASON = "Cliente pediu por telefone: mudou de endereço"
OPERATOR = "Carlos Operador"


def full_order() -> dict[str, Any]:
    """The example order plus every kind of field the issue found shown in clear."""
    order: dict[str, Any] = copy.deepcopy(EXAMPLE)
    order["paymentData"]["transactions"][0]["payments"].append(
        {
            "id": "B0LET0",
            "group": "bankInvoice",
            "paymentSystemName": "Boleto Bancário",
            "value": 32070,
            "url": BOLETO_URL,
            "bankIssuedInvoiceIdentificationNumber": BOLETO_LINE.replace(" ", "").replace(".", ""),
            "bankIssuedInvoiceIdentificationNumberFormatted": BOLETO_LINE,
            "bankIssuedInvoiceBarCodeNumber": "23791987600000320701234560000000312345678901",
            "bankIssuedInvoiceBarCodeType": "i25",
            "dueDate": "2026-03-17",
            "billingAddress": {"street": "Avenida Paulista", "postalCode": "01310-100"},
        }
    )
    order["packageAttachment"] = {
        "packages": [
            {
                "invoiceNumber": "000123",
                "invoiceKey": INVOICE_KEY,
                "invoiceUrl": INVOICE_URL,
                "embeddedInvoice": NFE_XML,
                "trackingNumber": TRACKING,
                "trackingUrl": f"https://rastreio.example/{TRACKING}",
                "courier": "Transportadora Sim",
                "issuanceDate": "2026-03-15T10:00:00.0000000+00:00",
                "invoiceValue": 32070,
                "type": "Output",
                "items": [{"itemIndex": 0, "quantity": 2, "price": 12990, "description": "Caneca p/ Ana"}],
                "cfop": "5102",
            }
        ]
    }
    order["openTextField"] = {"value": TEXT_FIELD}
    item = order["items"][0]
    item["attachments"] = [{"name": "Gravação", "content": {"Texto": ENGRAVING}}]
    item["itemAttachment"] = {"name": "Presente", "content": {"Mensagem": ENGRAVING}}
    order["cancelReason"] = CANCEL_REASON
    order["cancellationData"] = {
        "RequestedByUser": True,
        "RequestedBySystem": False,
        "RequestedBySellerNotification": False,
        "RequestedByPaymentNotification": False,
        "Reason": CANCEL_REASON,
        "CancellationDate": "2026-03-16T12:00:00.0000000+00:00",
    }
    order["callCenterOperatorData"] = {
        "id": "op-77",
        "email": "carlos@simstore.example",
        "userName": OPERATOR,
    }
    order["shippingData"]["trackingHints"] = [
        {
            "trackingId": TRACKING,
            "courierName": "Sim",
            "trackingUrl": "https://t.example/x",
            "trackingStatus": "x",
        }
    ]
    order["marketingData"] = {"utmSource": "newsletter", "coupon": "ANA10", "utmiCampaign": "ana-souza"}
    order["customData"] = {"customApps": [{"id": "profile", "fields": {"cpf": "12345678909"}}]}
    order["invoiceData"] = {"address": {"street": "Avenida Paulista", "neighborhood": "Bela Vista"}}
    return order


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """Yield (path, value, location) of every leaf; the location indexes into a document of that shape."""
    yield from _leaves(value, path, ())


def _leaves(value: Any, path: str, where: tuple[Any, ...]) -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, path, (*where, index))
    else:
        yield path, value, where


def at(document: Any, where: tuple[Any, ...]) -> Any:
    for step in where:
        document = document[step]
    return document


#: Values that must never show, anywhere in the masked document.
SENSITIVE = (
    "ana.souza@example.com",
    "12345678909",
    "+5511987654321",
    "Souza",
    "Avenida Paulista",
    "Apto 42",
    "01310-100",
    "Bela Vista",
    "3f2e1d0c-b9a8-4766-9554-433221100fed",  # userProfileId
    "5b1f0c7e9a2d4e3f8c6b1a0d9e8f7a6b",  # orderFormId: the cart, readable without credentials
    "411111",
    "ops@simstore.example",
    BOLETO_URL,
    "23790",
    INVOICE_KEY,
    "nfe.example",
    "<nfeProc",
    TRACKING,
    TEXT_FIELD,
    "porteiro",
    ENGRAVING,
    CANCEL_REASON,
    OPERATOR,
    "carlos@",
    "ANA10",
    "-46.6527",
)


class TestAllowList:
    """Walk every leaf of a full order: an unlisted leaf shown in clear fails the test."""

    def test_every_unlisted_leaf_is_masked(self) -> None:
        order = full_order()
        masked = mask_order(order)
        assert [p for p, _, w in leaves(order)] == [p for p, _, w in leaves(masked)]  # same shape
        shown, hidden = [], []
        for path, value, where in leaves(order):
            out = at(masked, where)
            if value is None:
                assert None is out, path
            elif path in ORDER_FIELDS:
                assert value == out, path
                shown.append(path)
            else:
                assert value != out, f"{path} shown in clear: {value!r}"
                assert out == MASK or path in HINTED, f"{path} -> {out!r}"
                if isinstance(value, str) and len(value) > 3:
                    assert value not in str(out), path
                hidden.append(path)
        assert len(set(hidden)) > 100 and len(set(shown)) > 40  # the walk saw the whole document
        text = json.dumps(masked, ensure_ascii=False)
        leaked = [s for s in SENSITIVE if s in text]
        assert [] == leaked
        assert order == full_order()  # the original is untouched

    def test_what_an_operator_needs_stays(self) -> None:
        masked = mask_order(full_order())
        item = masked["items"][0]
        assert (EXAMPLE["orderId"], EXAMPLE["status"], EXAMPLE["creationDate"], EXAMPLE["value"]) == (
            masked["orderId"],
            masked["status"],
            masked["creationDate"],
            masked["value"],
        )
        assert ("2001", "Caneca Térmica 500ml Azul", 2, 12990) == (
            item["id"],
            item["name"],
            item["quantity"],
            item["price"],
        )
        assert [t["value"] for t in EXAMPLE["totals"]] == [t["value"] for t in masked["totals"]]
        assert "Normal" == masked["shippingData"]["logisticsInfo"][0]["selectedSla"]
        assert "Sim Store" == masked["sellers"][0]["name"]
        assert "creditCard" == masked["paymentData"]["transactions"][0]["payments"][0]["group"]
        assert True is masked["cancellationData"]["RequestedByUser"]

    def test_profile_hints(self) -> None:
        profile = mask_order(EXAMPLE)["clientProfileData"]
        assert ("a***@e***.com", "***09", "***21", MASK, MASK) == (
            profile["email"],
            profile["document"],
            profile["phone"],
            profile["firstName"],
            profile["userProfileId"],
        )

    @pytest.mark.parametrize(
        ("key", "value"),
        [("newVtexField", "anything"), ("Key", "vtexappkey-x"), ("note", "bob@shop.example"), ("n", 7)],
    )
    def test_unknown_keys_are_masked(self, key: str, value: Any) -> None:
        assert {"orderId": "1-01", key: MASK} == mask_order({"orderId": "1-01", key: value})

    def test_emails_inside_allowed_strings(self) -> None:
        masked = mask_order({"statusDescription": "sent to bob@shop.example"})
        assert {"statusDescription": "sent to b***@s***.example"} == masked


class TestEvents:
    """A dead-lettered input event shows its ids and state, not the appKey nor anything unknown."""

    def test_event(self) -> None:
        event = {
            "Domain": "Marketplace",
            "OrderId": "1-01",
            "State": "invoiced",
            "LastState": "ready-for-handling",
            "LastChange": "2026-03-14T15:02:11.5281934Z",
            "CurrentChange": "2026-03-14T15:02:12.5281934Z",
            "Origin": {"Account": "acct", "Key": "vtexappkey-acct-ABC"},
            "event_id": "e1",
            "received_at": "2026-03-14T15:02:12.6Z",
            "source": "hook",
            "account": "acct",
            "extra": "x",
        }
        masked = mask_event(event)
        for path, value, where in leaves(event):
            assert (value == at(masked, where)) == (path in EVENT_FIELDS), path
        assert MASK == masked["Origin"]["Key"]


def test_helpers() -> None:
    assert ("a***@e***.com", "a***") == (mask_email("ana@example.com"), mask_email("ana"))
    assert ("***", "***89") == (mask_number("123"), mask_number("123456789"))
