"""Turn a Feed v3 item (camelCase) into the hook notification payload (PascalCase) the ingress produces.

Both describe the same event (REFERENCE.md sections 3 and 6); only the key case differs and the feed
item has no `Origin`, which is the account and appKey owning the feed. Keeping the hook's shape means
the processor sees one format, and `event_id` (OrderId + State + LastChange) comes out equal for a hook
and the feed item of the same change.
"""

from __future__ import annotations

from typing import Any

from bridge.vtex.config_models import FeedItem


def to_hook_payload(item: FeedItem, *, account: str, app_key: str) -> dict[str, Any]:
    """Return the hook payload of `item`; optional fields the item lacks stay absent, as in a hook."""
    payload: dict[str, Any] = {
        "Domain": item.domain or "",
        "OrderId": item.order_id,
        "State": item.state,
    }
    if item.last_state is not None:
        payload["LastState"] = item.last_state
    payload["LastChange"] = item.last_change
    if item.current_change is not None:
        payload["CurrentChange"] = item.current_change
    payload["Origin"] = {"Account": account, "Key": app_key}
    return payload
