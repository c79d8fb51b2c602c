"""The soak's figures from its samples: RSS slope per 10 min, CPU-per-event drift, queue trends, targets,
the warm-up that lasts until the RocksDB budget is reached, memory:// growth against the sizing rule."""

from __future__ import annotations

import pytest

from bench.soak import (
    MEMORY_BYTES_PER_ENTRY,
    MEMORY_BYTES_PER_EVENT_ID,
    MEMORY_BYTES_PER_ORDER,
    Sample,
    bounded,
    budget_reached_at,
    machine_load,
    parse_worker_metrics,
    slope_per_s,
    summarize,
    targets,
    trend,
    warmup_end,
)


def sample(at: float, *, worker_rss: float, worker_cpu: float, transitions: int, lag: int) -> Sample:
    return Sample(
        at=at,
        rss_mb={"worker": worker_rss, "ingress": 60.0},
        cpu_s={"worker": worker_cpu, "ingress": at / 100, "simulator": at / 50},
        fds={"worker": 100, "ingress": 80},
        transitions=transitions,
        hooks_sent=transitions,
        accepted_events=transitions,
        lag=lag,
        feed_backlog=10,
        feed_age_s=1.0,
    )


class TestSoakFigures:
    """Least-squares slopes, first vs last window CPU per event, bounded queues and the targets."""

    def test_slope(self) -> None:
        assert 2.0 == pytest.approx(slope_per_s([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]))
        assert 0.0 == slope_per_s([(0.0, 1.0)])

    def test_summary_after_warmup(self) -> None:
        # 100 s of warm-up (RSS climbing), then 800 s flat; the worker's CPU per event doubles at the end.
        samples = []
        cpu = 0.0
        for step in range(91):
            at = step * 10.0
            cpu += 0.01 if at < 700 else 0.02
            samples.append(
                sample(at, worker_rss=min(100.0, 50 + at / 2), worker_cpu=cpu, transitions=step * 10, lag=5)
            )
        summary = summarize(samples, warmup_s=100.0)
        worker = summary["processes"]["worker"]
        assert 0.0 == worker["rss_slope_mb_per_10min"]
        assert (1.0, 2.0, 2.0) == (
            worker["cpu_ms_per_event_first"],
            worker["cpu_ms_per_event_last"],
            worker["cpu_drift"],
        )
        verdict = targets(summary, {"ok": True})
        assert {"worker": True, "ingress": True} == verdict["rss_slope_le_5mb_per_10min"]
        assert not verdict["cpu_drift_le_1.2"]["worker"]
        assert verdict["cpu_drift_le_1.2"]["ingress"]
        assert verdict["lag_bounded"]

    def test_growing_queue_is_not_bounded(self) -> None:
        growing = trend([(float(t), 1000.0 * t) for t in range(40)])
        assert not bounded(growing, slack=500.0)
        steady = trend([(float(t), 300.0 + (t % 3) * 100) for t in range(40)])
        assert bounded(steady, slack=500.0)


MB = 1024 * 1024


def rocks_sample(at: float, *, cache_mb: float, budget_mb: float = 32.0) -> Sample:
    s = sample(at, worker_rss=100.0, worker_cpu=at / 100, transitions=int(at), lag=5)
    s.worker = {"rocksdb_budget": budget_mb * MB, "rocksdb_block_cache": cache_mb * MB}
    return s


class TestWarmup:
    """On RocksDB the warm-up lasts until its memory reached its level (and at least its minimum)."""

    def test_until_the_budget_is_reached(self) -> None:
        # The cache fills 0.05 MB/s: 90 % of 32 MB (28.8 MB) at 576 s, the first sample at or past it 580 s.
        samples = [rocks_sample(t, cache_mb=min(32.0, t * 0.05)) for t in range(0, 1200, 10)]
        assert 580.0 == budget_reached_at(samples)
        assert (580.0, 580.0) == warmup_end(samples, minimum_s=300.0)
        assert (900.0, 580.0) == warmup_end(samples, minimum_s=900.0)

    def test_until_the_usage_levels_off_below_the_budget(self) -> None:
        # The data RocksDB reads and writes is smaller than the budget: it levels off at 20 MB (90 %: 18
        # MB, at 360 s); a usage still rising at the end reaches 90 % of its highest late in the run.
        levelling = [rocks_sample(t, cache_mb=min(20.0, t * 0.05)) for t in range(0, 1200, 10)]
        assert (360.0, 360.0) == warmup_end(levelling, minimum_s=300.0)
        rising = [rocks_sample(t, cache_mb=t * 0.01) for t in range(0, 1200, 10)]
        assert (1080.0, 1080.0) == warmup_end(rising, minimum_s=300.0)
        assert not summarize(rising, 1080.0)["rocksdb"]["budget_full"]
        assert summarize(levelling, 360.0)["rocksdb"] == {
            "budget_mb": 32.0,
            "usage_mb_max": 20.0,
            "usage_mb_end": 20.0,
            "memtables_mb_end": 0.0,
            "budget_full": False,
        }

    def test_no_budget(self) -> None:
        no_budget = [sample(t, worker_rss=1.0, worker_cpu=0.0, transitions=0, lag=0) for t in (0.0, 10.0)]
        assert (300.0, None) == warmup_end(no_budget, minimum_s=300.0)


class TestMemoryStoreGrowth:
    """On memory:// the worker's growth is compared with the sizing rule's cost per key."""

    @staticmethod
    def samples(bytes_per_s: float) -> list[Sample]:
        out = []
        for step in range(61):
            at = step * 10.0
            orders, ids, entries = at * 1, at * 5, at * 7
            s = sample(
                at, worker_rss=100 + at * bytes_per_s / MB, worker_cpu=at / 100, transitions=step, lag=5
            )
            s.worker = {"state_keys": orders, "emitted": ids, "events": entries}
            out.append(s)
        return out

    def test_expected_growth_from_the_rule(self) -> None:
        # Per second: 1 order, 5 event ids, 7 entries -> 670 + 5 x 140 + 7 x 290 = 3,400 bytes.
        expected = 1 * MEMORY_BYTES_PER_ORDER + 5 * MEMORY_BYTES_PER_EVENT_ID + 7 * MEMORY_BYTES_PER_ENTRY
        assert 3400 == expected
        summary = summarize(self.samples(expected), warmup_s=0.0)
        growth = summary["memory_growth"]
        assert (600, 3000, 4200) == (
            growth["new_orders_per_10min"],
            growth["new_event_ids_per_10min"],
            growth["new_timeline_entries_per_10min"],
        )
        assert round(expected * 600 / MB, 1) == growth["expected_mb_per_10min"]
        assert growth["ratio"] == pytest.approx(1.0, abs=0.01)
        verdict = targets(summary, {"ok": True})
        assert verdict["worker_growth_le_1.2x_sizing_rule"]
        # The worker is judged against the rule, not the RocksDB slope target; the ingress still is.
        assert {"ingress": True} == verdict["rss_slope_le_5mb_per_10min"]

    def test_more_than_the_rule_misses(self) -> None:
        summary = summarize(self.samples(2 * 3400.0), warmup_s=0.0)
        assert summary["memory_growth"]["ratio"] == pytest.approx(2.0, abs=0.02)
        assert not targets(summary, {"ok": True})["worker_growth_le_1.2x_sizing_rule"]


def test_worker_metrics_from_the_exposition() -> None:
    text = "\n".join(
        [
            "# TYPE vtex_bridge_processor_events_total counter",
            'vtex_bridge_processor_events_total{outcome="emitted"} 10.0',
            'vtex_bridge_processor_events_total{outcome="duplicate"} 4.0',
            'vtex_bridge_processor_events_created{outcome="emitted"} 1.7e+09',
            "vtex_bridge_processor_state_keys 3.0",
            'vtex_bridge_processor_rocksdb_memory_bytes{kind="budget"} 3.3554432e+07',
            'vtex_bridge_processor_rocksdb_memory_bytes{kind="block_cache"} 1.6e+07',
        ]
    )
    assert {
        "emitted": 10.0,
        "events": 14.0,
        "state_keys": 3.0,
        "rocksdb_budget": 32 * MB,
        "rocksdb_block_cache": 1.6e7,
    } == parse_worker_metrics(text)


def test_machine_load_splits_the_soak_from_the_rest() -> None:
    samples = [sample(t, worker_rss=1.0, worker_cpu=0.0, transitions=0, lag=0) for t in (0.0, 50.0, 100.0)]
    for s, busy, own in zip(samples, (0.0, 90.0, 180.0), (0.0, 60.0, 110.0), strict=True):
        s.machine_busy_s, s.soak_cpu_s = busy, own
    load = machine_load(samples, [(samples[0], samples[1]), (samples[1], samples[2])])
    assert (1.8, 1.1, 0.7) == (load["busy_cores"], load["soak_cores"], load["others_cores"])
    assert (0.6, 0.8) == (load["others_cores_first_window"], load["others_cores_last_window"])


def test_no_sizing_rule_growth_on_rocksdb() -> None:
    samples = TestMemoryStoreGrowth.samples(3400.0)
    for s in samples:
        s.worker["rocksdb_budget"] = 32.0 * MB
    summary = summarize(samples, warmup_s=0.0)
    assert "memory_growth" not in summary
    assert "worker" in targets(summary, {"ok": True})["rss_slope_le_5mb_per_10min"]


def test_rss_steps_tell_bursts_from_steady_growth() -> None:
    # Flat at 140 MB, a 10 MB step right after a lag peak of 6,000 at 300 s, flat again at 150 MB.
    samples = []
    for step in range(61):
        at = step * 10.0
        lag = 6000 if 260 <= at <= 290 else 100
        samples.append(
            sample(at, worker_rss=140.0 if at < 300 else 150.0, worker_cpu=at, transitions=step, lag=lag)
        )
    worker = summarize(samples, warmup_s=0.0)["processes"]["worker"]
    assert worker["rss_slope_mb_per_10min"] > 5.0
    assert [{"at_min": 5.0, "mb": 10.0, "lag_peak": 6000}] == worker["rss_steps"]
    ingress = summarize(samples, warmup_s=0.0)["processes"]["ingress"]
    assert [] == ingress["rss_steps"]
