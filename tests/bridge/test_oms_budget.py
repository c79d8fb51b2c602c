"""One OMS budget per account for the whole group: shares follow partitions, 429s cut, the bucket holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.settings import load_settings
from bridge.vtex.budget import MIN_CUT, RECOVER_INTERVAL_S, AccountBudget, BudgetLimiter
from bridge.vtex.oms import OmsClient
from processors.runtime import Runtime


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def split(partitions: int, workers: int) -> list[int]:
    """Partitions per worker as a range assignor gives them."""
    return [partitions // workers + (1 if i < partitions % workers else 0) for i in range(workers)]


class TestShares:
    """Whatever the number of workers, their rates add up to the account's budget."""

    @pytest.mark.parametrize("workers", [1, 2, 3, 4, 5, 7, 12])
    def test_shares_sum_to_the_account_budget(self, workers: int) -> None:
        budgets = [AccountBudget(90.0) for _ in range(workers)]
        for budget, owned in zip(budgets, split(12, workers), strict=True):
            budget.set_share(owned, 12)
        assert sum(b.rate() for b in budgets) == pytest.approx(90.0)

    def test_share_follows_a_rebalance(self) -> None:
        budget = AccountBudget(100.0)
        budget.set_share(6, 12)
        assert 50.0 == pytest.approx(budget.rate())
        budget.set_share(3, 12)  # a worker joined
        assert 25.0 == pytest.approx(budget.rate())
        budget.set_share(0, 12)  # everything went elsewhere
        assert budget.rate() < 0.1


class TestAdaptiveCut:
    """A 429 halves the rate once per episode, down to a floor, and it comes back step by step."""

    def test_cut_and_recovery(self) -> None:
        clock = Clock()
        budget = AccountBudget(100.0, clock=clock)
        budget.set_share(1, 4)
        budget.throttled()
        budget.throttled()  # same episode
        assert 12.5 == pytest.approx(budget.rate())
        for _ in range(10):
            clock.now += 3
            budget.throttled()
        assert 25.0 * MIN_CUT == pytest.approx(budget.rate())
        clock.now += RECOVER_INTERVAL_S * 20
        assert 25.0 == pytest.approx(budget.rate())


class TestLimiter:
    """Calls per 10 s window stay within the rate (plus one second's burst) and follow rate changes."""

    async def test_windows_stay_within_the_rate(self) -> None:
        clock = Clock()
        rate = [20.0]
        limiter = BudgetLimiter(lambda: rate[0], clock=clock, sleep=clock.sleep)
        calls: list[float] = []
        for _ in range(600):
            async with limiter:
                calls.append(clock.now)
        windows = [sum(1 for t in calls if w <= t < w + 10) for w in range(0, int(calls[-1]) - 10)]
        assert max(windows) <= 20 * 10 + 20
        rate[0] = 5.0
        start = clock.now
        for _ in range(100):
            await limiter.acquire()
        assert clock.now - start >= (100 - 20) / 5.0 - 1  # the new rate applies at once


class TestRuntimeShare:
    """The worker sets its share on every assignment: partitions owned / the input topic's partitions."""

    async def test_each_assignment_sets_the_share(self, tmp_path: Path) -> None:
        settings = load_settings(oms_rate_limit_per_s=90.0, vtex_account="acme", input_topic_partitions=12)
        oms = OmsClient.from_settings(settings)
        runtime = Runtime(settings, data_dir=tmp_path, oms=oms)
        runtime.budget_share.input_partition_count = 12  # read from the cluster already
        await runtime.budget_share.share({0, 1, 2})
        assert 22.5 == pytest.approx(oms.budget.rate())
        await runtime.budget_share.share(set(range(6)))  # a worker left: this one took more partitions
        assert 45.0 == pytest.approx(oms.budget.rate())
        exported = runtime.metrics.registry.get_sample_value(
            "vtex_bridge_oms_budget_limit_per_s", {"account": "acme"}
        )
        assert 45.0 == pytest.approx(exported)

    async def test_an_assignment_never_waits_on_the_cluster(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The declared count serves at once; the count read in the background then corrects it."""
        settings = load_settings(oms_rate_limit_per_s=90.0, vtex_account="acme", input_topic_partitions=6)
        oms = OmsClient.from_settings(settings)
        runtime = Runtime(settings, data_dir=tmp_path, oms=oms)
        read = asyncio.Event()

        async def slow_cluster() -> None:
            await read.wait()
            runtime.budget_share.input_partition_count = 12
            runtime.budget_share.apply(12)

        monkeypatch.setattr(runtime.budget_share, "read_input_partitions", slow_cluster)
        await asyncio.wait_for(runtime.budget_share.share({0, 1, 2}), 1.0)
        assert 45.0 == pytest.approx(oms.budget.rate())  # 3 of the declared 6
        read.set()
        assert runtime.budget_share.count_read is not None
        await runtime.budget_share.count_read
        assert 22.5 == pytest.approx(oms.budget.rate())  # 3 of the 12 the cluster has
