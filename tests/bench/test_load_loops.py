"""The benchmarks' open-loop load generator reports requests that got no answer as errors instead of
ending the benchmark run (a very busy machine made the whole `make bench` stop with TimeoutError)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench import common


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A loopback server that reads requests and never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_unanswered_requests_count_as_errors(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "REQUEST_TIMEOUT_S", 0.2)
    connections = await common.open_connections(silent_server, 1)
    try:
        request = common.encode_post("/hooks/vtex", b"{}", {})
        result = await asyncio.wait_for(common.open_loop(connections, [request], rate=50, seconds=0.1), 10)
    finally:
        common.close_connections(connections)
    assert 0 == result.completed
    assert 5 == result.errors
