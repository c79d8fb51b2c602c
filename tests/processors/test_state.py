"""Unit tests of the local state stores (memory and RocksDB) behind the de-dup table."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.dedup import EMPTY, OrderMemory
from processors.state import MemoryState, PartitionState, RocksState, decode_memory, encode_memory, new_state


@pytest.fixture(params=["memory://", "rocksdict://"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> PartitionState:
    return new_state(request.param, tmp_path, 0)


class TestPartitionState:
    """Both stores keep the latest memory per order and forget deleted (tombstoned) orders."""

    def test_apply_get_delete(self, state: PartitionState) -> None:
        memory = OrderMemory(seen={"e1": 1.0}, newest_state="invoiced", newest_change="x")
        state.apply("o1", memory)
        state.apply("o2", memory)
        state.apply("o1", OrderMemory(seen={"e2": 2.0}))
        assert ({"e2": 2.0}, 2) == (dict(state.get("o1").seen), len(state))
        state.apply("o2", None)
        state.apply("o3", None)  # deleting a missing key is harmless
        assert (EMPTY, ["o1"], 1) == (state.get("o2"), list(state.order_ids()), len(state))
        state.close()

    def test_store_is_chosen_by_url(self, tmp_path: Path) -> None:
        memory, rocks = new_state("memory://", tmp_path, 1), new_state("rocksdict://", tmp_path, 1)
        assert (MemoryState, RocksState) == (type(memory), type(rocks))
        rocks.close()


class TestChangelogValue:
    """Changelog values are JSON; None is a tombstone."""

    def test_round_trip(self) -> None:
        memory = OrderMemory(seen={"e": 1.0}, newest_state="s", newest_change="c", dead={"0:1": 2.0})
        assert (memory, None) == (decode_memory(encode_memory(memory)), decode_memory(encode_memory(None)))
