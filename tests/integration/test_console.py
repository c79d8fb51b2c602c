"""The operator console over a real broker: timelines recorded by a worker, served by its API and the
`vtex-bridge order` CLI, kept across a restart; with two workers, either answers for any order."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.fake_oms import FakeOms, fake_oms
from tests.support.kafka import create_topics, wait_until
from tests.support.worker import VTEX_BRIDGE, WorkerConfig, WorkerProcess, hook, lifecycle, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]

TOKEN = "console-test-token"


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=20)) as response,
    ):
        return response.status, orjson.loads(await response.read())


async def timeline(worker: WorkerProcess, order_id: str) -> list[dict[str, Any]]:
    status, body = await get(f"http://127.0.0.1:{worker.port}/api/orders/{order_id}")
    return body["timeline"] if status == 200 else []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VTEX_BRIDGE), *args], capture_output=True, text=True, timeout=60, check=False)


class TestConsoleOneWorker:
    """A worker records what happened to each event and shows it; the record survives a restart."""

    async def test_timeline_api_cli_and_restart(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        config.extra["VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN"] = TOKEN
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        events = lifecycle("ord-a", 3)
        again = hook("ord-a", events[0].state, 0.0, source="feed")  # same triple as events[0]
        late = hook("ord-a", "payment-pending", -5.0)
        dead = hook("ord-dead", "invoiced", 0.0)
        fake_oms.not_found_calls["ord-dead"] = -1
        await produce(kafka_bootstrap, config.input_topic, [*events, again, late, dead])

        worker = WorkerProcess(config, tmp_path)
        with worker:
            await worker.start()

            async def recorded() -> bool:
                return (
                    len(await timeline(worker, "ord-a")) == 5 and len(await timeline(worker, "ord-dead")) == 1
                )

            await wait_until(recorded, timeout=60, message="timelines recorded")
            status, body = await get(f"http://127.0.0.1:{worker.port}/api/orders/ord-a")
            first = body["timeline"]
            assert ["emitted", "emitted", "emitted", "duplicate", "late"] == [e["outcome"] for e in first]
            assert [e.event_id for e in events] == [e["event_id"] for e in first[:3]]
            assert ("feed", events[0].event_id) == (first[3]["source"], first[3]["event_id"])
            assert events[2].state == first[4]["newer_state"]
            assert all(e["record"]["topic"].startswith(config.status_prefix) for e in first if "record" in e)
            latest = body["latest"]
            assert (first[4]["event_id"], "ready-for-handling") == (
                latest["event_id"],
                latest["order_status"],
            )
            profile = latest["order"]["clientProfileData"]
            assert ("a***@e***.com", "***09") == (profile["email"], profile["document"])
            (dead_entry,) = await timeline(worker, "ord-dead")
            assert ("dead_lettered", "order-not-found") == (dead_entry["outcome"], dead_entry["reason"])

            status, letters = await get(f"http://127.0.0.1:{worker.port}/api/dead-letters")
            assert 200 == status
            assert ["ord-dead"] == [d["order_id"] for d in letters["dead_letters"]]
            assert dead_entry["record"]["offset"] == letters["dead_letters"][0]["offset"]

            url = f"http://127.0.0.1:{worker.port}"
            table = await asyncio.to_thread(cli, "order", "ord-a", "--url", url)
            assert 0 == table.returncode, table.stderr
            assert ["duplicate", "late (after"] == [
                w for w in ("duplicate", "late (after") if w in table.stdout
            ]
            as_json = await asyncio.to_thread(cli, "order", "ord-a", "--json", "--url", url)
            assert first == orjson.loads(as_json.stdout)["timeline"]
            missing = await asyncio.to_thread(cli, "order", "ord-never", "--url", url)
            assert (3, "no timeline") == (missing.returncode, missing.stderr.split(" for ")[0][-11:])

            assert 0 == await worker.terminate()
            await worker.start()  # a new process: the timeline comes back from its changelog
            assert first == await timeline(worker, "ord-a")
            assert 0 == await worker.terminate()
            assert [] == [line for line in worker.error_lines() if "dead-lettering" not in line]


class TestConsoleTwoWorkers:
    """Behind one Service any worker answers for any order: the non-owner forwards to the owner."""

    async def test_any_worker_answers(self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=4)
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        orders = [f"ord-{i}" for i in range(8)]
        await produce(kafka_bootstrap, config.input_topic, [e for o in orders for e in lifecycle(o, 2)])
        with WorkerProcess(config, tmp_path, "w1") as one, WorkerProcess(config, tmp_path, "w2") as two:
            await one.start()
            await two.start()

            def split(health: dict[str, Any], other: WorkerProcess) -> bool:
                theirs = (other.health() or {}).get("partitions") or []
                return bool(health["partitions"]) and sorted(health["partitions"] + theirs) == [0, 1, 2, 3]

            await one.wait_for(lambda h: split(h, two), 60, "both workers own partitions")
            last: list[Any] = []
            for order in orders:

                async def answered(order: str = order) -> bool:
                    results = [await get(f"http://127.0.0.1:{w.port}/api/orders/{order}") for w in (one, two)]
                    last[:] = results
                    return all(s == 200 and len(b["timeline"]) == 2 for s, b in results)

                try:
                    await wait_until(answered, timeout=60, message=f"both workers answer for {order}")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}: {last}\n{one.tail(30)}\n---\n{two.tail(30)}") from None
                (_, a), (_, b) = [
                    await get(f"http://127.0.0.1:{w.port}/api/orders/{order}") for w in (one, two)
                ]
                assert a["timeline"] == b["timeline"]
                assert a["answered_by"] == b["answered_by"]
                assert [False, True] == sorted([a["forwarded"], b["forwarded"]])
            assert 0 == await two.terminate()
            assert 0 == await one.terminate()
