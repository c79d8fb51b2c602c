"""`CpuLoad`: the process's CPU time over the wall clock, per completed window."""

from __future__ import annotations

from processors.cpu_load import CpuLoad


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_load_of_the_last_completed_window() -> None:
    cpu, wall = _Clock(), _Clock()
    load = CpuLoad(1.0, cpu_clock=cpu, wall_clock=wall)
    assert 0.0 == load.busy()  # no window yet
    cpu.now, wall.now = 0.45, 0.5
    assert 0.0 == load.busy()  # half a window: still the previous figure
    cpu.now, wall.now = 0.9, 1.0
    assert 0.9 == load.busy()
    cpu.now, wall.now = 1.1, 2.0
    assert 0.2 == round(load.busy(), 6)
