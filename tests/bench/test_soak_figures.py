"""The soak's figures from its samples: RSS slope per 10 min, CPU-per-event drift, queue trends, targets."""

from __future__ import annotations

import pytest

from bench.soak import Sample, bounded, slope_per_s, summarize, targets, trend


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
