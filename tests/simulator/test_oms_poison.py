"""Per-order OMS faults (`oms_poison`): one order fails (500, hang, oversized), the others are served."""

from __future__ import annotations

import aiohttp
import pytest

from simulator.controls import Controls, InvalidControl
from simulator.poison import OVERSIZED_BYTES
from simulator.server import SimHandle
from tests.simulator.conftest import AUTH
from tests.support.sim import SimFactory


def _two_orders(sim: SimHandle) -> tuple[str, str]:
    lifecycles = sim.workload(2, mix={"happy": 1.0}).lifecycles
    for lifecycle in lifecycles:
        sim.emit(lifecycle.transitions[0])
    return lifecycles[0].order_id, lifecycles[1].order_id


class TestPoison:
    async def test_one_order_fails_the_other_is_served(
        self, sim_factory: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = await sim_factory(oms_timeout_hang_s=0.1)
        poison, healthy = _two_orders(sim)
        base = f"{sim.base_url}/api/oms/pvt/orders/"
        for mode, status in (("500", 500), ("hang", 504)):
            sim.controls.update({"oms_poison": {poison: mode}})
            async with http.get(base + poison, headers=AUTH) as resp:
                assert status == resp.status
            async with http.get(base + healthy, headers=AUTH) as resp:
                assert 200 == resp.status
        sim.controls.update({"oms_poison": {poison: "oversized"}})
        async with http.get(base + poison, headers=AUTH) as resp:
            assert 200 == resp.status
            body = await resp.read()
        assert len(body) > OVERSIZED_BYTES
        sim.controls.update({"oms_poison": {}})
        async with http.get(base + poison, headers=AUTH) as resp:
            assert 200 == resp.status
            assert len(await resp.read()) < OVERSIZED_BYTES
        assert 1 == sim.simulator.counters["oms_poison_500"]

    def test_bad_modes_are_refused(self) -> None:
        controls = Controls()
        with pytest.raises(InvalidControl):
            controls.update({"oms_poison": {"o1": "explode"}})
        with pytest.raises(InvalidControl):
            controls.update({"oms_poison": ["o1"]})
        assert {} == controls.oms_poison
