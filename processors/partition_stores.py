"""The two stores of one input partition: the de-dup state and the order timelines, with their changelogs.

Both are local copies of compacted changelog topics (`processors.state`, `processors.timeline_store`),
written only by the partition's transactional writer (`processors.writer`). This module is where they
are loaded, told what committed and reloaded, so the writer's commit loop deals with transactions
only. Each store remembers the changelog end offset it reflects (our last commit: its records plus the
commit marker): when a rebalance leaves the partition here and both ends are still where our commits
left them, nobody else wrote meanwhile and the local copies are exact (`unchanged`); otherwise, and
after any failed transaction (whose outcome may be unknown), both are rebuilt from what committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from processors.dedup import OrderMemory
from processors.state import PartitionState, changelog_end, load_changelog, load_partition
from processors.timeline_store import TimelineConfig, TimelineStore, loader

StateChange = tuple[str, OrderMemory | None]


class PartitionStores:
    """The de-dup state and timelines of one partition; see the module docstring."""

    def __init__(
        self,
        *,
        bootstrap: str,
        partition: int,
        changelog: str,
        state_factory: Callable[[], PartitionState],
        load_timeout_s: float,
        timeline: TimelineConfig | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._partition = partition
        self.changelog = changelog
        self._state_factory = state_factory
        self._load_timeout = load_timeout_s
        self.state: PartitionState = state_factory()
        #: The changelog end offset the state reflects (None: not loaded yet).
        self._expected_end: int | None = None
        #: How timelines are kept; None when switched off.
        self.timeline_config = timeline
        self.timeline: TimelineStore | None = timeline.factory() if timeline else None
        self._timeline_end: int | None = None

    async def load(self) -> None:
        """Load both stores from their changelogs (at the partition's first start here)."""
        loaded = await load_partition(
            self._bootstrap, self.changelog, self._partition, self.state, timeout_s=self._load_timeout
        )
        self._expected_end = loaded.end
        self._timeline_end = await self._load_timelines(self.timeline)

    async def unchanged(self) -> bool:
        """Whether both changelogs still end where our last commit left them (reads both ends)."""
        end = await changelog_end(self._bootstrap, self.changelog, self._partition)
        same = self._expected_end is not None and end == self._expected_end
        if self.timeline_config is not None:
            timeline_end = await changelog_end(
                self._bootstrap, self.timeline_config.changelog, self._partition
            )
            same = same and timeline_end == self._timeline_end
        return same

    async def reload(self) -> None:
        """Replace both stores by fresh copies of what committed; on failure the current ones stay."""
        fresh = self._state_factory()
        try:
            loaded = await load_partition(
                self._bootstrap, self.changelog, self._partition, fresh, timeout_s=self._load_timeout
            )
            await self._reload_timelines()
        except BaseException:
            fresh.close()
            raise
        old_state, self.state = self.state, fresh
        old_state.close()
        self._expected_end = loaded.end

    def committed(
        self,
        changes: Iterable[StateChange],
        timelines: Mapping[str, list[bytes]],
        changelog_offset: int | None,
        timeline_offset: int | None,
    ) -> None:
        """Apply a committed transaction: its state changes, its timelines and the changelogs' new ends."""
        if changelog_offset is not None:
            self._expected_end = changelog_offset + 2  # our records, then the commit marker
        if timeline_offset is not None:
            self._timeline_end = timeline_offset + 2
        if self.timeline is not None:
            for order_id, entries in timelines.items():
                self.timeline.put(order_id, entries)
        for order_id, memory in changes:
            self.state.apply(order_id, memory)

    def close(self) -> None:
        self.state.close()
        if self.timeline is not None:
            self.timeline.close()

    async def _load_timelines(self, store: TimelineStore | None) -> int | None:
        """Rebuild `store` from the timeline changelog; return the end offset it reflects."""
        if store is None or self.timeline_config is None:
            return None
        loaded = await load_changelog(
            self._bootstrap,
            self.timeline_config.changelog,
            self._partition,
            loader(store),
            timeout_s=self._load_timeout,
        )
        return loaded.end

    async def _reload_timelines(self) -> None:
        """Replace the timelines by a fresh copy of what committed (with the state, after a failure)."""
        if self.timeline_config is None:
            return
        fresh = self.timeline_config.factory()
        try:
            end = await self._load_timelines(fresh)
        except BaseException:
            fresh.close()
            raise
        old, self.timeline = self.timeline, fresh
        if old is not None:
            old.close()
        self._timeline_end = end
