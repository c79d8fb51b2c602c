"""Assignment epochs: which rebalance a fetched record belongs to, and waiting for its partition.

Faust hands over records fetched before a rebalance finished; a record of an assignment that has
ended must be dropped (left unacked: the partition's next owner processes it), and one whose partition
is still loading must wait, without a time limit, until it is ready or the assignment ends. Each
revocation, and the stop, moves the epoch; that ends every such wait at once.
"""

from __future__ import annotations

import asyncio


class Epochs:
    """The current assignment epoch and the waits that end when it moves."""

    def __init__(self) -> None:
        self.current = 0
        #: Set (and replaced) whenever `current` moves: wakes records waiting for a partition to be ready.
        self._moved = asyncio.Event()

    def move(self) -> None:
        """Start a new assignment epoch: records of the previous one are no longer accepted."""
        self.current += 1
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def wait_ready(self, ready: asyncio.Event, epoch: int) -> bool:
        """Wait until the partition is ready (True) or the assignment it belonged to ended (False).

        No time limit: while the partition is ours its state is being loaded (retried until it is), and
        a record dropped here would stay unacked and hold back the partition's commits until the next
        rebalance. A rebalance or stop moves the epoch, which ends the wait at once.
        """
        while not ready.is_set():
            moved = self._moved
            if epoch != self.current:
                return False
            waits = [asyncio.ensure_future(ready.wait()), asyncio.ensure_future(moved.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        return epoch == self.current
