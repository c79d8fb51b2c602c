"""The worker shortens the input consumer's fetch wait that Faust hard-codes to 1,500 ms."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer

from processors.app import shorten_fetch_wait


def _app(consumer: Any) -> Any:
    return SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_consumer=consumer)))


class TestShortenFetchWait:
    """The wait reaches both the aiokafka consumer and its running fetcher; no consumer yet is no-op."""

    async def test_unstarted_aiokafka_consumer_gets_the_wait(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
        assert shorten_fetch_wait(_app(consumer), 100)
        assert 100 == consumer._fetch_max_wait_ms

    def test_running_fetcher_gets_the_wait(self) -> None:
        fetcher = SimpleNamespace(_fetch_max_wait_ms=1500)
        consumer = SimpleNamespace(_fetch_max_wait_ms=1500, _fetcher=fetcher)
        assert shorten_fetch_wait(_app(consumer), 80)
        assert (80, 80) == (consumer._fetch_max_wait_ms, fetcher._fetch_max_wait_ms)

    def test_no_consumer_thread_yet(self) -> None:
        assert not shorten_fetch_wait(SimpleNamespace(consumer=SimpleNamespace()), 100)  # type: ignore[arg-type]

    def test_faust_still_hard_codes_the_wait_we_replace(self) -> None:
        """If a Faust upgrade makes the wait configurable, this fails: use the setting instead."""
        import inspect

        import faust.transport.drivers.aiokafka as driver

        assert "fetch_max_wait_ms=1500" in inspect.getsource(driver.AIOKafkaConsumerThread)
