"""Unit tests of the console's masking: no contact data, names, addresses or secrets get through."""

from __future__ import annotations

import json
from pathlib import Path

from processors.console.masking import mask, mask_email, mask_number

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "simulator/data/example-order.json").read_text())


class TestMasking:
    """The order keeps its shape and status; the customer and the credentials are masked."""

    def test_example_order(self) -> None:
        masked = mask(EXAMPLE)
        text = json.dumps(masked, ensure_ascii=False)
        for secret in (
            "ana.souza@example.com",
            "12345678909",
            "+5511987654321",
            "Souza",
            "Avenida Paulista",
            "Apto 42",
            "411111",
            "ops@simstore.example",
        ):
            assert secret not in text
        profile = masked["clientProfileData"]
        assert ("a***@e***.com", "***09", "***21", "A***") == (
            profile["email"],
            profile["document"],
            profile["phone"],
            profile["firstName"],
        )
        assert (EXAMPLE["status"], EXAMPLE["items"][0]["name"]) == (
            masked["status"],
            masked["items"][0]["name"],
        )
        assert None is masked["shippingData"]["address"]["geoCoordinates"]
        assert EXAMPLE == json.loads(json.dumps(EXAMPLE))  # the original is untouched

    def test_secret_looking_keys_and_free_text(self) -> None:
        masked = mask(
            {
                "Origin": {"Account": "acct", "Key": "vtexappkey-x"},
                "appToken": "t",
                "X-Api-Secret": "s",
                "note": "call me at bob@shop.example",
            }
        )
        assert {
            "Origin": {"Account": "acct", "Key": "***"},
            "appToken": "***",
            "X-Api-Secret": "***",
            "note": "call me at b***@s***.example",
        } == masked

    def test_helpers(self) -> None:
        assert ("a***@e***.com", "a***") == (mask_email("ana@example.com"), mask_email("ana"))
        assert ("***", "***89") == (mask_number("123"), mask_number("123456789"))
