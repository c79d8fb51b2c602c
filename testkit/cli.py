"""Run `vtex-bridge` in-process from an async test, with its output captured."""

from __future__ import annotations

import asyncio

import pytest

from bridge.cli import main


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in a thread (its handler runs its own event loop, while a test's servers keep serving
    on this one); return its exit code, stdout and stderr."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
