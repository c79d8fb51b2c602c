"""Several VTEX accounts in the lane handler: each event read from its own account, never another's.

Unit tests with an in-memory writer and one fake OMS per account (no broker): the reader follows the
event's `account`; the same OrderId in two accounts is two orders; a record without `account` is the
default account's; an unknown account is dead-lettered without any read; one account's outage or
refused credentials neither dead-letters its events as isolated failures nor stops the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from bridge.accounts import order_key
from bridge.events import InputEvent
from bridge.settings import load_settings
from bridge.vtex.errors import OmsAuthError, OmsUnavailable
from processors.metrics import ProcessorMetrics
from processors.pipeline import Pipeline
from processors.routing import Router
from processors.work import Work
from testkit.worker import hook
from tests.processors.test_pipeline import FakeWriter, values
from tests.processors.test_poison import Clock

SETTINGS = load_settings(
    kafka_embedded=False,
    vtex_account="alpha",
    worker_retry_backoff_max_s=0.001,
    worker_event_retry_attempts=3,
    worker_event_retry_s=10.0,
    worker_outage_window_s=60.0,
    worker_timeline_enabled=False,
    status_topic_prefix="st.",
    dead_letter_topic="dlq",
)


class AccountOms:
    """One account's OMS: documents name the account; `error` fails every read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []
        self.error: Exception | None = None

    async def get_order(self, order_id: str) -> dict[str, Any]:
        self.calls.append(order_id)
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return {"orderId": order_id, "status": "invoiced", "hostname": self.name}


def event(order_id: str, account: str, seconds: float = 1.0, state: str = "invoiced") -> InputEvent:
    return dataclasses.replace(hook(order_id, state, seconds), account=account)


def make(clock: Clock | None = None) -> tuple[Pipeline, FakeWriter, dict[str, AccountOms], ProcessorMetrics]:
    writer = FakeWriter()
    readers = {name: AccountOms(name) for name in ("alpha", "beta")}
    metrics = ProcessorMetrics(100.0, "alpha")
    pipeline = Pipeline(
        SETTINGS,
        oms=readers["alpha"],
        readers=readers,
        default_account="alpha",
        router=Router("st."),
        metrics=metrics,
        writer_for=lambda p: writer,  # type: ignore[arg-type,return-value]
        clock=lambda: 1000.0,
        monotonic=clock or Clock(),
    )
    return pipeline, writer, readers, metrics


async def handle(pipeline: Pipeline, e: InputEvent, offset: int, acks: list[int] | None = None) -> None:
    sink = acks if acks is not None else []
    work = Work(0, offset, e.key(), e.encode(), e, None, lambda: sink.append(offset))
    await pipeline.handle(order_key(e.account, e.order_id, pipeline.default_account), [work])


async def test_each_event_is_enriched_from_its_own_account() -> None:
    pipeline, writer, readers, metrics = make()
    await handle(pipeline, event("o1", "alpha"), 0)
    await handle(pipeline, event("o1", "beta"), 1)  # the same OrderId in another account
    await handle(pipeline, event("o2", ""), 2)  # an older producer: the default account's
    assert (["o1", "o2"], ["o1"]) == (readers["alpha"].calls, readers["beta"].calls)
    documents = [(v["account"], v["order"]["hostname"]) for v in values(writer)]
    assert [("alpha", "alpha"), ("beta", "beta"), ("alpha", "alpha")] == documents
    # Two orders, each with its own sequence (state keyed by account and OrderId).
    assert [1, 1, 1] == [v["order_sequence"] for v in values(writer)]
    assert {"o1", "beta/o1", "o2"} == set(writer.state.order_ids())
    sample = metrics.registry.get_sample_value
    assert 1.0 == sample(
        "vtex_bridge_processor_account_events_total", {"account": "beta", "outcome": "emitted"}
    )


async def test_unknown_account_is_dead_lettered_without_a_read() -> None:
    pipeline, writer, readers, metrics = make()
    acks: list[int] = []
    await handle(pipeline, event("o1", "zeta"), 7, acks)
    assert ([], []) == (readers["alpha"].calls, readers["beta"].calls)
    dead = values(writer)[-1]
    assert ("dlq", "unknown-account", "zeta") == (writer.records[-1].topic, dead["reason"], dead["account"])
    assert "'zeta' is not configured" in dead["detail"] and [7] == acks
    sample = metrics.registry.get_sample_value
    assert 1.0 == sample("vtex_bridge_processor_dead_letters_total", {"reason": "unknown-account"})
    assert 1.0 == sample(
        "vtex_bridge_processor_account_events_total", {"account": "_unknown", "outcome": "dead_lettered"}
    )


async def test_one_accounts_outage_is_no_isolated_failure_and_does_not_stop_the_others() -> None:
    clock = Clock()
    pipeline, writer, readers, _ = make(clock)
    for i in range(5):  # both accounts served
        await handle(pipeline, event(f"a{i}", "alpha"), i)
        await handle(pipeline, event(f"b{i}", "beta"), 10 + i)
    # The outage starts a second later: the failure rule counts outcomes by whole seconds, so beta's
    # successes above must not share a second with its first failure (they precede it).
    clock.now += 1
    readers["beta"].error = OmsUnavailable("OMS answered 503", status=503)
    stuck = [asyncio.create_task(handle(pipeline, event(f"b-new{i}", "beta"), 20 + i)) for i in range(3)]
    while min(readers["beta"].calls.count(f"b-new{i}") for i in range(3)) < 5:
        await handle(pipeline, event(f"a-more{len(readers['alpha'].calls)}", "alpha"), 30)  # alpha flows
        clock.now += 5  # far past the retry budget's time
    assert not any(task.done() for task in stuck)  # alpha's successes do not make beta's failures isolated
    assert all(v.get("reason") is None for v in values(writer))
    readers["beta"].error = None
    await asyncio.wait_for(asyncio.gather(*stuck), 5)
    assert 3 == sum(1 for v in values(writer) if v["account"] == "beta" and v["order_id"].startswith("b-new"))


async def test_refused_credentials_halt_only_their_account() -> None:
    pipeline, _writer, readers, metrics = make()
    readers["beta"].error = OmsAuthError("OMS refused our credentials (401)", status=401)
    task = asyncio.create_task(handle(pipeline, event("b1", "beta"), 0))
    while not readers["beta"].calls:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    assert ["beta"] == pipeline.halted_accounts and not pipeline.halted
    assert pipeline.resumed.is_set()  # consumption goes on for alpha
    assert 1.0 == metrics.registry.get_sample_value(
        "vtex_bridge_processor_account_halted", {"account": "beta"}
    )
    await handle(pipeline, event("a1", "alpha"), 1)
    readers["alpha"].error = OmsAuthError("OMS refused our credentials (401)", status=401)
    alpha = asyncio.create_task(handle(pipeline, event("a2", "alpha"), 2))
    while "a2" not in readers["alpha"].calls:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    assert pipeline.halted and not pipeline.resumed.is_set()  # every account refused: stop pulling
    task.cancel()
    alpha.cancel()
    await asyncio.gather(task, alpha, return_exceptions=True)


async def test_per_account_topics_route_each_account_apart() -> None:
    writer = FakeWriter()
    readers = {name: AccountOms(name) for name in ("alpha", "beta")}
    router = Router("st.", account_prefix="st.{account}.", accounts=("alpha", "beta"))
    pipeline = Pipeline(
        SETTINGS,
        oms=readers["alpha"],
        readers=readers,
        default_account="alpha",
        router=router,
        metrics=ProcessorMetrics(100.0, "alpha"),
        writer_for=lambda p: writer,  # type: ignore[arg-type,return-value]
        clock=lambda: 1000.0,
    )
    await handle(pipeline, event("o1", "beta"), 0)
    await handle(pipeline, event("o2", ""), 1)  # no account: the default account's topics
    assert ["st.beta.invoiced", "st.alpha.invoiced"] == [r.topic for r in writer.records]
    assert ("account", b"beta") in writer.records[0].headers
