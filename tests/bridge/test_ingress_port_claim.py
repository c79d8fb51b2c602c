"""A second multi-worker ingress on the same port is refused (SO_REUSEPORT would let it share the hooks)."""

from __future__ import annotations

import errno
import sys

import pytest

from bridge.ingress import workers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets: Linux")


def test_a_second_claim_on_the_port_is_refused_and_released_with_the_first() -> None:
    holder = workers.reserve_port("127.0.0.1", 0)
    port = int(holder.getsockname()[1])
    try:
        first = workers.claim_port(port)
        assert first is not None
        with pytest.raises(OSError) as refused:
            workers.claim_port(port)
        assert errno.EADDRINUSE == refused.value.errno
        assert f"port {port} is already served by another vtex-bridge ingress" in str(refused.value)
        first.close()
        again = workers.claim_port(port)  # the first one gone (stopped or killed): free again
        assert again is not None
        again.close()
    finally:
        holder.close()
