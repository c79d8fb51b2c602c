"""The services' process-wide runtime: event loop implementation and GC thresholds from settings."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import uvloop

from bridge import process_runtime
from bridge.settings import load_settings


@pytest.fixture
def restore_process() -> Iterator[None]:
    thresholds = gc.get_threshold()
    policy = asyncio.get_event_loop_policy()
    yield
    gc.set_threshold(*thresholds)
    asyncio.set_event_loop_policy(policy)


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


class TestProcessRuntime:
    """`process_runtime.run` runs a coroutine on the configured loop with the configured GC."""

    def test_uvloop_by_default(self, restore_process: None) -> None:
        settings = load_settings()
        assert uvloop.Loop is process_runtime.run(settings, _loop_type())

    def test_asyncio_loop_when_asked(self, restore_process: None) -> None:
        settings = load_settings(event_loop="asyncio")
        assert not issubclass(process_runtime.run(settings, _loop_type()), uvloop.Loop)

    def test_gc_thresholds_applied(self, restore_process: None) -> None:
        settings = load_settings(gc_thresholds=(12_345, 6, 7))
        process_runtime.install(settings)
        assert (12_345, 6, 7) == gc.get_threshold()

    def test_thresholds_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VTEX_BRIDGE_GC_THRESHOLDS", "[1000, 2, 3]")
        assert (1000, 2, 3) == load_settings().gc_thresholds

    def test_new_event_loop_is_current(self, restore_process: None) -> None:
        settings = load_settings()
        loop = process_runtime.new_event_loop(settings)
        try:
            assert isinstance(loop, uvloop.Loop)
            assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
