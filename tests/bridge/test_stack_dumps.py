"""`kill -USR1` makes our services write their threads' stacks and their tasks' await chains."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bridge import stack_dumps
from bridge.local_kafka import stop_process_group

# A service in miniature: the process runtime installed, one task parked two coroutines deep.
SERVICE = textwrap.dedent(
    """
    import asyncio, signal, sys
    from bridge import process_runtime
    from bridge.settings import Settings

    async def parked_here() -> None:
        await asyncio.Event().wait()

    async def outer_step() -> None:
        await parked_here()

    async def main() -> None:
        if sys.argv[2] == "ignore-sigterm":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stop path that hangs
        task = asyncio.create_task(outer_step(), name="the-parked-task")
        print("ready", flush=True)
        await task

    process_runtime.run(Settings(event_loop=sys.argv[1]), main())
    """
)


def start_service(
    tmp_path: Path, loop: str, sigterm: str = "default"
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"service-{loop}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVICE, loop, sigterm],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for_text(log, "ready")
    return process, log


def wait_for_text(log: Path, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {log} within {timeout}s:\n{log.read_text(errors='replace')}")


def assert_full_dump(content: str) -> None:
    assert "Current thread 0x" in content  # faulthandler: the threads
    assert "task 'the-parked-task':" in content
    chain = content.split("task 'the-parked-task':", 1)[1].splitlines()[1:]
    assert "in outer_step" in chain[0]
    assert "in parked_here" in chain[1]
    assert "in wait" in chain[2]  # asyncio.Event.wait
    assert "waits on <Future pending" in chain[3]  # where the await chain ends


class TestSignal:
    def test_uvloop_service_writes_threads_and_tasks(self, tmp_path: Path) -> None:
        process, log = start_service(tmp_path, "uvloop")
        try:
            process.send_signal(stack_dumps.DUMP_SIGNAL)
            assert_full_dump(wait_for_text(log, stack_dumps.END_OF_DUMP))
            assert process.poll() is None  # a dump does not stop the service
        finally:
            process.kill()
            process.wait(10)

    def test_asyncio_service_writes_threads_and_tasks(self, tmp_path: Path) -> None:
        process, log = start_service(tmp_path, "asyncio")
        try:
            process.send_signal(stack_dumps.DUMP_SIGNAL)
            assert_full_dump(wait_for_text(log, stack_dumps.END_OF_DUMP))
        finally:
            process.kill()
            process.wait(10)

    def test_stop_of_a_hung_service_leaves_its_stacks_then_kills_it(self, tmp_path: Path) -> None:
        process, log = start_service(tmp_path, "uvloop", "ignore-sigterm")
        stop_process_group(process.pid, timeout=0.5, dump_signal=stack_dumps.DUMP_SIGNAL)
        assert -signal.SIGKILL == process.wait(10)
        assert_full_dump(log.read_text(errors="replace"))


class TestDumpTasks:
    async def test_every_pending_task_with_its_await_chain(self) -> None:
        gate = asyncio.Event()

        async def inner() -> None:
            await gate.wait()

        async def outer() -> None:
            await inner()

        task = asyncio.create_task(outer(), name="waiting-at-the-gate")
        await asyncio.sleep(0)  # let it reach the gate
        out = io.StringIO()
        stack_dumps.dump_tasks(out)
        gate.set()
        await task
        text = out.getvalue()
        assert text.endswith(stack_dumps.END_OF_DUMP + "\n")
        block = text.split("task 'waiting-at-the-gate':", 1)[1].splitlines()
        assert block[1].endswith(" in outer")
        assert block[2].endswith(" in inner")
        assert "(running)" in text

    def test_a_dump_during_a_dump_neither_waits_nor_interleaves(self) -> None:
        """A second SIGUSR1 runs the handler again in the same thread, in the middle of the first dump."""

        class SignalDuringWrite(io.StringIO):
            nested = False

            def write(self, text: str) -> int:
                if not self.nested:
                    self.nested = True
                    stack_dumps.dump_tasks(self)  # as if the second signal arrived right here
                return super().write(text)

        out = SignalDuringWrite()
        stack_dumps.dump_tasks(out)
        *dumps, rest = out.getvalue().split(stack_dumps.END_OF_DUMP + "\n")
        assert ("", 2) == (rest, len(dumps))  # two whole dumps, one after the other
        assert all(
            d.startswith("--- asyncio tasks of pid") and d.count("--- asyncio tasks") == 1 for d in dumps
        )
