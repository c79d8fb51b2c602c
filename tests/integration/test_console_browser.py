"""The console page in headless Chromium (Debian's, driven by Playwright) against a real worker and broker:
log in (a wrong token is refused), search an order, see its states in order and follow a link between
them, replay a dead-lettered event, log out.

Chromium comes from the system (`make browser` installs Debian's package); Playwright never downloads one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from playwright.async_api import ConsoleMessage, async_playwright, expect

from testkit.fake_oms import FakeOms, fake_oms
from testkit.kafka import create_topics, read_all, wait_until
from testkit.worker import WorkerConfig, WorkerProcess, hook, lifecycle, produce

pytestmark = pytest.mark.integration
__all__ = ["fake_oms"]

CHROMIUM = "/usr/bin/chromium"
TOKEN = "Bt7Rk2Vx9Qm4Ln8Zc3Hw6Jp1"
UI_TIMEOUT_MS = 15_000


async def outcomes(port: int, order_id: str) -> list[str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{port}/api/orders/{order_id}?latest=0",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        if response.status != 200:
            return []
        return [e["outcome"] for e in orjson.loads(await response.read())["timeline"]]


class TestConsolePage:
    """An operator finds an order's story on the page and puts a dead letter back with the admin token."""

    async def test_search_states_and_replay(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        config.extra["VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN"] = TOKEN
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        events = lifecycle("ord-web", 3)
        late = hook("ord-web", "payment-pending", -5.0)
        dead = hook("ord-dlq", "invoiced", 0.0)
        fake_oms.not_found_calls["ord-dlq"] = -1  # 404 past the grace period: dead-lettered
        await produce(kafka_bootstrap, config.input_topic, [*events, late, dead])

        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()

            async def processed() -> bool:
                port = worker.console_port
                web, dlq = await outcomes(port, "ord-web"), await outcomes(port, "ord-dlq")
                return len(web) == 4 and dlq == ["dead_lettered"]

            await wait_until(processed, timeout=60, message="events processed")
            errors: list[str] = []
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu"],
                    timeout=UI_TIMEOUT_MS * 2,
                )
                try:
                    page = await browser.new_page()
                    page.set_default_timeout(UI_TIMEOUT_MS)

                    def on_console(message: ConsoleMessage) -> None:
                        if message.type == "error":
                            errors.append(message.text)

                    page.on("console", on_console)
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    await page.goto(f"http://127.0.0.1:{worker.console_port}/")  # redirects to /console
                    await expect(page.locator("#login-view")).to_be_visible()
                    await expect(page.locator("#app")).to_be_hidden()
                    await page.fill("#login-token", "not-the-token")
                    await page.click("#login-button")
                    await expect(page.locator("#login-status")).to_have_text("Token refused.")
                    await expect(page.locator("#app")).to_be_hidden()
                    await page.fill("#login-token", TOKEN)
                    await page.click("#login-button")
                    await expect(page.locator("#app")).to_be_visible()
                    await expect(page.locator("#session-user")).to_have_text("admin-token (admin)")

                    # Recent orders from the input topic: ids a newcomer can click.
                    await expect(page.locator("#recent-orders a", has_text="ord-web")).to_have_count(1)
                    await page.fill("#order-id", "ord-web")
                    await page.click("#search-button")
                    rows = page.locator("#timeline tbody tr")
                    await expect(rows).to_have_count(4)
                    states = await page.locator("#timeline tbody td.state").all_text_contents()
                    assert [e.state for e in [*events, late]] == states
                    shown: list[Any] = await rows.evaluate_all("rows => rows.map(r => r.dataset.outcome)")
                    assert ["emitted", "emitted", "emitted", "late"] == shown
                    await page.click("#timeline a.link-newer")  # the late event links to the newer state
                    assert "entry-3" == await page.locator("#timeline tr.highlight").get_attribute("id")
                    assert "ready-for-handling" == await page.text_content("#latest-status")
                    # Money in the order's currency, not raw cents (32070 BRL cents in the example order).
                    value = await page.text_content("#latest-value") or ""
                    assert "320.70" in value.replace(",", ".") and ("R$" in value or "BRL" in value)
                    document = await page.text_content("#latest-order") or ""
                    assert "a***@e***.com" in document and "ana.souza@example.com" not in document

                    fake_oms.not_found_calls["ord-dlq"] = 0  # the order is readable now: the replay succeeds
                    letter = page.locator("#dead-letters tbody tr", has_text="ord-dlq")
                    await letter.wait_for()
                    assert "order-not-found" == await letter.locator("td.reason").text_content()
                    await page.fill("#admin-token", TOKEN)
                    await letter.locator("button.replay").click()
                    await page.locator("#replay-status", has_text="Replayed order ord-dlq").wait_for()

                    async def replayed() -> bool:
                        return await outcomes(worker.console_port, "ord-dlq") == ["dead_lettered", "emitted"]

                    await wait_until(replayed, timeout=60, message="replayed event emitted")
                    await letter.locator("a").click()  # the dead letter links to its order
                    await expect(page.locator("#order-title")).to_have_text("ord-dlq")
                    await expect(rows).to_have_count(2)
                    shown = await rows.evaluate_all("rows => rows.map(r => r.dataset.outcome)")
                    assert ["dead_lettered", "emitted"] == shown
                    await page.click("#logout-button")
                    await expect(page.locator("#app")).to_be_hidden()
                    await page.reload()  # the token left with the logout: the login form again
                    await expect(page.locator("#login-view")).to_be_visible()
                finally:
                    await browser.close()
            # The browser logs each refused login as a failed load: before the login, the wrong token
            # and after the logout. Nothing else may fail.
            refused = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
            assert [refused] * 3 == errors
            assert 0 == await worker.terminate()

        inputs = [
            orjson.loads(m.value) for m in await read_all(kafka_bootstrap, config.input_topic, timeout=30)
        ]
        assert 2 == sum(1 for value in inputs if value["OrderId"] == "ord-dlq")  # the original and the replay


class TestPendingOnThePage:
    """Events still in the worker show under "Pending in the worker", with what they wait for; an order
    with only pending events shows them (not "not found"), and the section is absent when nothing waits."""

    async def test_pending_events_shown(
        self, kafka_bootstrap: str, fake_oms: FakeOms, tmp_path: Path
    ) -> None:
        config = WorkerConfig(kafka_bootstrap, fake_oms.base_url, partitions=2)
        config.extra["VTEX_BRIDGE_CONSOLE_ADMIN_TOKEN"] = TOKEN
        config.extra["VTEX_BRIDGE_WORKER_NOT_FOUND_GRACE_S"] = "120"  # outlasts the test
        config.extra["VTEX_BRIDGE_WORKER_RETRY_BACKOFF_MAX_S"] = "2"
        await create_topics(kafka_bootstrap, config.input_topic, partitions=config.partitions)
        waiting = hook("ord-wait", "invoiced", 0.0)
        first, later = lifecycle("ord-both", 2)
        fake_oms.not_found_calls["ord-wait"] = -1
        await produce(kafka_bootstrap, config.input_topic, [waiting, first])

        with WorkerProcess(config, tmp_path) as worker:
            await worker.start()

            async def order(order_id: str) -> dict[str, Any]:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(
                        f"http://127.0.0.1:{worker.console_port}/api/orders/{order_id}?latest=0",
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    ) as response,
                ):
                    return dict(orjson.loads(await response.read())) if response.status == 200 else {}

            async def in_grace() -> bool:
                body = await order("ord-wait")
                return ["not-found-grace"] == [p["waiting"]["reason"] for p in body.get("pending", [])]

            await wait_until(in_grace, timeout=60, message="ord-wait in its not-found grace")

            async def emitted(order_id: str, count: int) -> bool:
                return ["emitted"] * count == await outcomes(worker.console_port, order_id)

            await wait_until(lambda: emitted("ord-both", 1), timeout=60, message="ord-both emitted")
            errors: list[str] = []
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu"],
                    timeout=UI_TIMEOUT_MS * 2,
                )
                try:
                    page = await browser.new_page()
                    page.set_default_timeout(UI_TIMEOUT_MS)
                    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    await page.goto(f"http://127.0.0.1:{worker.console_port}/console#token={TOKEN}")
                    await expect(page.locator("#app")).to_be_visible()

                    # Only a pending event: shown, with what it waits for, instead of "not found".
                    await page.fill("#order-id", "ord-wait")
                    await page.click("#search-button")
                    await expect(page.locator("#order-title")).to_have_text("ord-wait")
                    await expect(page.locator("#order-status")).to_have_text("")
                    await expect(page.locator("#timeline tbody tr.empty")).to_have_count(1)
                    await expect(page.locator("#pending-view")).to_be_visible()
                    rows = page.locator("#pending tbody tr")
                    await expect(rows).to_have_count(1)
                    row = rows.first
                    assert "not-found-grace" == await row.get_attribute("data-reason")
                    assert "invoiced" == await row.locator("td.state").text_content()
                    assert "in-flight" == await row.locator("td.status").text_content()
                    assert "OMS answers 404" in (await row.locator("td.waiting").text_content() or "")
                    assert "grace ends" in (await row.locator("td.until").text_content() or "")
                    assert "s ago" in (await row.locator("td.since").text_content() or "")
                    assert "1 pending" in (await page.text_content("#order-meta") or "")

                    # A timeline and nothing pending: no pending section.
                    await page.fill("#order-id", "ord-both")
                    await page.click("#search-button")
                    await expect(page.locator("#order-title")).to_have_text("ord-both")
                    await expect(page.locator("#timeline tbody tr")).to_have_count(1)
                    await expect(page.locator("#pending-view")).to_be_hidden()

                    # A timeline and an event backing off after OMS failures: both shown.
                    fake_oms.failing["ord-both"] = 503
                    await produce(kafka_bootstrap, config.input_topic, [later])

                    async def backing_off() -> bool:
                        body = await order("ord-both")
                        return "retry-backoff" in [p["waiting"]["reason"] for p in body.get("pending", [])]

                    await wait_until(backing_off, timeout=60, message="ord-both backing off")
                    await page.click("#search-button")  # the same order again
                    await expect(page.locator("#pending tbody tr")).to_have_count(1)
                    await expect(page.locator("#pending-view")).to_be_visible()
                    await expect(page.locator("#timeline tbody tr[data-outcome]")).to_have_count(1)
                    row = page.locator("#pending tbody tr").first
                    assert later.state == await row.locator("td.state").text_content()
                    assert "failure" in (await row.locator("td.waiting").text_content() or "")
                    assert "next attempt" in (await row.locator("td.until").text_content() or "")
                finally:
                    await browser.close()
            assert [] == errors
            fake_oms.failing.pop("ord-both")  # both orders readable again: their pending events go out
            fake_oms.not_found_calls.pop("ord-wait")
            await wait_until(lambda: emitted("ord-both", 2), timeout=60, message="ord-both's retry emitted")
            await wait_until(
                lambda: emitted("ord-wait", 1), timeout=60, message="ord-wait emitted in its grace"
            )
            assert [] == (await order("ord-wait"))["pending"]
            assert 0 == await worker.terminate()
