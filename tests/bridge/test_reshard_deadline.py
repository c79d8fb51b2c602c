"""`topics reshard` keeps its time-out even when a client call swallows the first cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bridge.topics import reshard
from bridge.topics.reshard import _Expired, _within


async def stubborn() -> int:
    """Swallows the first cancellation (as a client library call under load was seen to), then waits."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    await asyncio.sleep(3600)
    return 0


async def quick() -> int:
    return 7


class TestWithin:
    async def test_result_within_the_bound(self) -> None:
        assert 7 == await _within(quick(), 5.0)

    async def test_expires_although_the_first_cancel_is_swallowed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(reshard, "CANCEL_AGAIN_S", 0.05)
        with pytest.raises(_Expired):
            await asyncio.wait_for(_within(stubborn(), 0.1), 10)
