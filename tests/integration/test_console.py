"""The operator console over a real broker: timelines recorded by a worker, served by its API (on its own
port, behind a login) and the `vtex-bridge order` CLI, kept across a restart; with two workers, either
answers for any order; what the console refuses (no login, a wrong or non-UTF-8 token, a foreign Host,
an untrusted proxy header, a malformed order id) and a worker that refuses to start without a token."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, wait_until
from testkit.worker import VTEX_BRIDGE, WorkerConfig, WorkerProcess, hook, lifecycle, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]

TOKEN = "Wq4Zr8Tb2Nx6Kc1Vm9Hs3Lp7"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url, headers=AUTH if headers is None else headers, timeout=aiohttp.ClientTimeout(total=20)
        ) as response,
    ):
        return response.status, orjson.loads(await response.read())


def console(worker: WorkerProcess) -> str:
    return f"http://127.0.0.1:{worker.console_port}"


async def timeline(worker: WorkerProcess, order_id: str) -> list[dict[str, Any]]:
    status, body = await get(f"{console(worker)}/api/orders/{order_id}")
    return body["timeline"] if status == 200 else []


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VTEX_BRIDGE_")}
    return subprocess.run(
        [str(VTEX_BRIDGE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": TOKEN, **(env or {})},
    )


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
            status, body = await get(f"{console(worker)}/api/orders/ord-a")
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

            status, letters = await get(f"{console(worker)}/api/dead-letters")
            assert 200 == status
            assert ["ord-dead"] == [d["order_id"] for d in letters["dead_letters"]]
            assert dead_entry["record"]["offset"] == letters["dead_letters"][0]["offset"]

            url = console(worker)
            table = await asyncio.to_thread(cli, "order", "ord-a", "--url", url)
            assert 0 == table.returncode, table.stderr
            assert ["duplicate", "late (after"] == [
                w for w in ("duplicate", "late (after") if w in table.stdout
            ]
            as_json = await asyncio.to_thread(cli, "order", "ord-a", "--json", "--url", url)
            assert first == orjson.loads(as_json.stdout)["timeline"]
            missing = await asyncio.to_thread(cli, "order", "ord-never", "--url", url)
            assert (3, "no timeline") == (missing.returncode, missing.stderr.split(" for ")[0][-11:])
            refused = await asyncio.to_thread(
                cli, "order", "ord-a", "--url", url, env={"VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": ""}
            )
            assert (1, True) == (refused.returncode, "refused the login" in refused.stderr)

            assert 0 == await worker.terminate()
            await worker.start()  # a new process: the timeline comes back from its changelog
            assert first == await timeline(worker, "ord-a")
            assert 0 == await worker.terminate()
            assert [] == [line for line in worker.error_lines() if "dead-lettering" not in line]


class TestConsoleTwoWorkers:
    """Behind one Service any worker answers for any order: the non-owner forwards to the owner."""

    async def test_any_worker_answers(self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=4)
        config.extra["VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN"] = TOKEN  # forwards carry it to the owner
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
                    results = [await get(f"{console(w)}/api/orders/{order}") for w in (one, two)]
                    last[:] = results
                    return all(s == 200 and len(b["timeline"]) == 2 for s, b in results)

                try:
                    await wait_until(answered, timeout=60, message=f"both workers answer for {order}")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}: {last}\n{one.tail(30)}\n---\n{two.tail(30)}") from None
                (_, a), (_, b) = [await get(f"{console(w)}/api/orders/{order}") for w in (one, two)]
                assert a["timeline"] == b["timeline"]
                assert a["answered_by"] == b["answered_by"]
                assert [False, True] == sorted([a["forwarded"], b["forwarded"]])
            assert 0 == await two.terminate()
            assert 0 == await one.terminate()


async def raw_status(port: int, request: bytes) -> int:
    """Send `request` as bytes (what a client library would refuse to send) and return the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 20)
    finally:
        writer.close()
    return int(line.split()[1])


class TestConsoleAccess:
    """The console answers only on its own port, only to a login, only under an allowed Host name."""

    async def test_login_host_and_port(self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        config.extra.update(
            {
                "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": TOKEN,
                "VTEX_BRIDGE_CONSOLE_PROXY_USER_HEADER": "X-Forwarded-User",
                "VTEX_BRIDGE_CONSOLE_PROXY_TRUSTED_SOURCES": '["10.255.255.1"]',  # not this test's address
                "VTEX_BRIDGE_CONSOLE_ALLOWED_HOSTS": '["console.example.test"]',
            }
        )
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        await produce(kafka_bootstrap, config.input_topic, lifecycle("ord-x", 1))
        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()
            await wait_until(lambda: _has_timeline(worker, "ord-x"), timeout=60, message="timeline recorded")
            url = console(worker)
            # Not on the metrics port, which serves /metrics and health only.
            metrics = f"http://127.0.0.1:{worker.port}"
            for path in ("/console", "/api/orders/ord-x", "/api/dead-letters"):
                assert 404 == (await _status(metrics + path, AUTH)), path
            assert "vtex_bridge_console_requests_total" in await worker.metrics()
            # No login, a wrong token, an untrusted proxy identity: 401; the page itself has no data.
            for headers in ({}, {"Authorization": "Bearer " + TOKEN[::-1]}, {"X-Forwarded-User": "eve"}):
                for path in ("/api/orders/ord-x", "/api/dead-letters", "/api/session"):
                    status, body = await get(url + path, headers)
                    assert (401, "login-required") == (status, body["error"]), (path, headers)
            assert 200 == await _status(url + "/console", {})
            # Authorization bytes that are not UTF-8: 401, on reads and on replay (was 500).
            bad = b"Authorization: Bearer \xff\xfe\xc3(\r\n"
            for line in (b"GET /api/orders/ord-x", b"POST /api/dead-letters/replay"):
                request = line + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n" + bad
                assert 401 == await raw_status(worker.console_port, request + b"Connection: close\r\n\r\n{}")
            # A foreign Host name (DNS rebinding) is refused before any login; a configured one works.
            status, body = await get(url + "/api/orders/ord-x", {**AUTH, "Host": "attacker.example"})
            assert (421, "host-not-allowed") == (status, body["error"])
            status, body = await get(url + "/api/orders/ord-x", {**AUTH, "Host": "console.example.test"})
            assert (200, "ord-x") == (status, body["order_id"])
            # Malformed ids never reach a lookup or a forward.
            for order_id in ("a..b", "x%00y", "ord%23x", "ord%20x", "%C3%A9", "a" * 129):
                status, body = await get(f"{url}/api/orders/{order_id}")
                assert (400, "bad-order-id") == (status, body["error"]), order_id
            assert 0 == await worker.terminate()

    async def test_refuses_to_start_without_a_strong_token(self, tmp_path: Path) -> None:
        """Outside the dev profile (the default) a worker without a strong token does not start."""
        env = {"VTEX_BRIDGE_PROFILE": "production", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
        for token, why in (("", "is empty"), ("CHANGEME", "too short"), ("x" * 30, "not look random")):
            run = await asyncio.to_thread(
                cli,
                "worker",
                "--data-dir",
                str(tmp_path),
                env={**env, "VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN": token},
            )
            assert (2, True) == (run.returncode, why in run.stderr), run.stderr
            assert "refusing to start" in run.stderr and "set VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN" in run.stderr


async def _status(url: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status


async def _has_timeline(worker: WorkerProcess, order_id: str) -> bool:
    return bool(await timeline(worker, order_id))
