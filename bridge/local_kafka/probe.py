"""Questions asked of a broker on loopback: is this port free, does it accept, does Kafka answer?

The metadata probes are synchronous because the process lifecycle around them is (start, wait, stop);
they run on a private event loop in a thread, so a caller already inside a running loop (a pytest
fixture of an async test) can use them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

METADATA_PROBE_TIMEOUT_S: Final = 5.0

T = TypeVar("T")


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(bootstrap: str) -> bool:
    """Tell whether the first bootstrap address accepts TCP connections (cheap, and logs nothing)."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def broker_answers(bootstrap: str) -> bool:
    """Tell (synchronously) whether a Kafka broker answers metadata requests at `bootstrap`."""
    if not port_open(bootstrap):
        return False
    return _run_in_fresh_loop(_metadata_answers(bootstrap))


def cluster_size(bootstrap: str) -> int:
    """Return how many brokers the cluster at `bootstrap` lists (0 when it does not answer)."""
    return _run_in_fresh_loop(_count_brokers(bootstrap))


def _run_in_fresh_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a private event loop in a thread, so sync callers inside a running loop work."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, name="kafka-probe", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


async def _metadata_answers(bootstrap: str) -> bool:
    """Tell whether a broker at `bootstrap` answers a metadata request listing itself."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(METADATA_PROBE_TIMEOUT_S * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), METADATA_PROBE_TIMEOUT_S)
        cluster = await asyncio.wait_for(admin.describe_cluster(), METADATA_PROBE_TIMEOUT_S)
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), METADATA_PROBE_TIMEOUT_S)


async def _count_brokers(bootstrap: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(METADATA_PROBE_TIMEOUT_S * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), METADATA_PROBE_TIMEOUT_S)
        cluster = await asyncio.wait_for(admin.describe_cluster(), METADATA_PROBE_TIMEOUT_S)
        return len(cluster.get("brokers") or [])
    except Exception:
        return 0
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), METADATA_PROBE_TIMEOUT_S)
