"""The stop watchdog: silent when disarmed in time; past its bound, stacks first, then the exit code."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, cast

import pytest

from bridge.stack_dumps import END_OF_DUMP
from bridge.stop_watchdog import STOP_TIMEOUT_EXIT_CODE, StopWatchdog


class Exits:
    """Stands in for os._exit: records the code (in the watchdog's thread) instead of ending pytest."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.done = threading.Event()

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self.done.set()

    @property
    def process_exit(self) -> Callable[[int], NoReturn]:
        """This double in os._exit's type (which never returns; the double does)."""
        return cast("Callable[[int], NoReturn]", self)


def test_past_its_bound_it_writes_the_stacks_then_exits(tmp_path: Path) -> None:
    exits = Exits()
    calls: list[str] = []
    with (tmp_path / "stacks").open("w+") as out:
        watchdog = StopWatchdog(
            0.05, out=out, exit_process=exits.process_exit, before_exit=lambda: calls.append("before")
        )
        watchdog.arm()
        assert exits.done.wait(10)
        out.seek(0)
        written = out.read()
    assert [STOP_TIMEOUT_EXIT_CODE] == exits.codes
    assert ["before"] == calls
    assert "Thread 0x" in written
    assert "test_past_its_bound_it_writes_the_stacks_then_exits" in written  # the waiting main thread
    assert written.rstrip().endswith(END_OF_DUMP)


def test_disarmed_in_time_it_does_nothing(tmp_path: Path) -> None:
    exits = Exits()
    with (tmp_path / "stacks").open("w") as out:
        watchdog = StopWatchdog(0.2, out=out, exit_process=exits.process_exit)
        watchdog.arm()
        assert watchdog.armed
        watchdog.disarm()
        assert not watchdog.armed
        assert not exits.done.wait(0.5)  # well past the bound: nothing happened
    assert [] == exits.codes


def test_a_second_arm_does_not_push_the_bound_back(tmp_path: Path) -> None:
    exits = Exits()
    with (tmp_path / "stacks").open("w") as out:
        watchdog = StopWatchdog(0.3, out=out, exit_process=exits.process_exit)
        watchdog.arm()
        first = watchdog._timer
        watchdog.arm()  # a second SIGTERM during the stop
        assert first is watchdog._timer
        assert exits.done.wait(10)
    assert [STOP_TIMEOUT_EXIT_CODE] == exits.codes


def test_it_exits_even_when_the_stacks_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exits = Exits()
    with (tmp_path / "stacks").open("w") as out:
        pass  # closed: writing to it raises ValueError
    StopWatchdog(0.01, out=out, exit_process=exits.process_exit).arm()
    assert exits.done.wait(10)
    assert [STOP_TIMEOUT_EXIT_CODE] == exits.codes
    assert "could not write the stacks" in caplog.text
