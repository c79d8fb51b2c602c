"""Errors raised by the VTEX API clients, sorted by what the caller should do about them.

The processor decides per class: `OrderNotFound` is retried for a while (a new order may not be readable
yet) then dead-lettered; `OmsAuthError` is our outage (credentials, permissions), so it halts consumption
instead of dead-lettering every event; `OmsUnavailable` means VTEX or the network is down, so it applies
backpressure; `OmsBadResponse` is permanent for that order.
"""

from __future__ import annotations


class OmsError(Exception):
    """Base of every OMS client error; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OrderNotFound(OmsError):
    """404: the order is unknown, older than two years, or not readable yet."""


class OmsAuthError(OmsError):
    """401/403: credentials invalid or lacking the "View order" permission (REFERENCE.md section 1)."""


class OmsUnavailable(OmsError):
    """5xx, 429 or timeouts persisted through the client's bounded retries."""


class OmsBadResponse(OmsError):
    """Another 4xx, or a 200 whose body is not an order object: retrying will not help."""


class InvalidOrderId(OmsBadResponse):
    """The id breaks VTEX's OrderId shape (`bridge.identifiers`): refused before any call to VTEX."""
