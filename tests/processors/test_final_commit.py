"""The offset commit Faust makes while the worker stops is bounded (faust_adapter.bound_final_commit)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from processors.faust_adapter import bound_final_commit


class Consumer:
    """Faust's consumer as the bound sees it: `commit_and_end_transactions`, here as slow as told."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.finished = False
        self.cancelled = False

    async def commit_and_end_transactions(self) -> None:
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.finished = True


def _app(consumer: Consumer) -> Any:
    return SimpleNamespace(consumer=consumer)


async def test_a_commit_in_time_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    consumer = Consumer(0.0)
    bound_final_commit(_app(consumer), timeout_s=5.0)
    await consumer.commit_and_end_transactions()
    assert consumer.finished
    assert "final offset commit" not in caplog.text


async def test_a_commit_that_waits_for_the_broker_is_given_up(caplog: pytest.LogCaptureFixture) -> None:
    consumer = Consumer(3600.0)
    bound_final_commit(_app(consumer), timeout_s=0.05)
    with caplog.at_level(logging.WARNING, logger="processors.app"):
        await consumer.commit_and_end_transactions()  # returns: the stop goes on
    assert consumer.cancelled and not consumer.finished
    assert "final offset commit did not finish in time" in caplog.text


def test_faust_still_commits_this_way_on_stop() -> None:
    """If a Faust upgrade renames the stop-time commit, this fails: the bound would guard nothing."""
    import inspect

    from faust.transport.consumer import Consumer as FaustConsumer

    assert "await self.commit_and_end_transactions()" in inspect.getsource(FaustConsumer.on_stop)
