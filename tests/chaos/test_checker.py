"""The chaos checker counts lost, duplicated, out-of-order and unexpected events (no broker needed)."""

from __future__ import annotations

import json
from typing import Any

from bridge.events import compute_event_id
from testkit.checker import CheckResult, Expectation, InputRecord, OutputRecord, check

PREFIX = "st."
ORDER = "1000000000001-01"
OTHER = "1000000000002-01"


def payload(order_id: str, state: str, second: int) -> dict[str, Any]:
    return {
        "Domain": "Marketplace",
        "OrderId": order_id,
        "State": state,
        "LastState": None,
        "LastChange": f"2026-01-05T12:00:{second:02d}.0000000Z",
        "CurrentChange": f"2026-01-05T12:00:{second:02d}.5000000Z",
        "Origin": {"Account": "simaccount", "Key": "k"},
    }


def event_id(p: dict[str, Any]) -> str:
    return compute_event_id(p["OrderId"], p["State"], p["LastChange"])


def delivery(p: dict[str, Any], outcome: str = "accepted") -> dict[str, Any]:
    return {"event_id": event_id(p), "payload": p, "outcome": outcome}


def inputs(*payloads: dict[str, Any]) -> list[InputRecord]:
    return [
        InputRecord(partition=0, offset=i, event_id=event_id(p), order_id=p["OrderId"], source="hook")
        for i, p in enumerate(payloads)
    ]


def output(p: dict[str, Any], offset: int, *, topic: str = PREFIX + "all", **changes: Any) -> OutputRecord:
    value: dict[str, Any] = {
        "event_id": event_id(p),
        "order_id": p["OrderId"],
        "state": p["State"],
        "last_change": p["LastChange"],
        "route": "all",
        "late": False,
        "processed_at": f"2026-01-05T12:01:00.{offset:06d}Z",
        "order": {"orderId": p["OrderId"]},
    }
    value.update(changes)
    return OutputRecord(topic=topic, partition=0, offset=offset, timestamp_ms=offset, value=value)


A = payload(ORDER, "order-created", 1)
B = payload(ORDER, "payment-pending", 2)
C = payload(ORDER, "payment-approved", 3)
X = payload(OTHER, "order-created", 1)


def run(expectation: Expectation, ins: list[InputRecord], outs: list[OutputRecord]) -> CheckResult:
    return check("synthetic", expectation, ins, outs, status_prefix=PREFIX)


def accepted_only(*payloads: dict[str, Any]) -> Expectation:
    return Expectation.from_simulator({"payloads": list(payloads)}, [delivery(p) for p in payloads])


class TestCheckerVerdicts:
    """Each kind of damage is counted, and a clean run counts nothing."""

    def test_clean_run_is_ok(self) -> None:
        result = run(accepted_only(A, B, C), inputs(A, B, C), [output(A, 0), output(B, 1), output(C, 2)])
        assert result.ok
        assert (3, 0, 0, 0, 0) == (
            result.delivered,
            result.lost,
            result.duplicated,
            result.out_of_order,
            result.unexpected,
        )

    def test_missing_accepted_event_is_lost(self) -> None:
        result = run(accepted_only(A, B, C), inputs(A, B, C), [output(A, 0), output(C, 1)])
        assert 1 == result.lost
        assert not result.ok
        assert [f"{event_id(B)} (on input 0:1)"] == result.samples["lost"]

    def test_dead_lettered_accepted_event_is_lost_and_said_so(self) -> None:
        dead = OutputRecord("dlq", 0, 0, 0, {"event_id": event_id(B)})
        result = check(
            "s", accepted_only(A, B), inputs(A, B), [output(A, 0)], status_prefix=PREFIX, dead_letters=[dead]
        )
        assert (1, 1) == (result.lost, result.dead_lettered)
        assert "dead-lettered" in result.samples["lost"][0]

    def test_second_copy_is_duplicated(self) -> None:
        outs = [output(A, 0), output(B, 1), output(B, 2), output(B, 3, topic=PREFIX + "all")]
        result = run(accepted_only(A, B), inputs(A, B, B), outs)
        assert 2 == result.duplicated

    def test_emission_against_arrival_order_is_out_of_order(self) -> None:
        result = run(accepted_only(A, B, C), inputs(A, B, C), [output(B, 0), output(A, 1), output(C, 2)])
        assert 1 == result.out_of_order
        assert (0, 0) == (result.lost, result.duplicated)

    def test_arrival_order_is_the_reference_not_the_lifecycle(self) -> None:
        """A late event (C arrived before B) emitted in arrival order is in order."""
        result = run(accepted_only(A, B, C), inputs(A, C, B), [output(A, 0), output(C, 1), output(B, 2)])
        assert 0 == result.out_of_order

    def test_orders_are_independent(self) -> None:
        ins = [*inputs(A, B), InputRecord(1, 0, event_id(X), OTHER, "hook")]
        outs = [output(X, 0), output(A, 1), output(B, 2)]
        assert 0 == run(accepted_only(A, B, X), ins, outs).out_of_order

    def test_never_sent_event_is_unexpected(self) -> None:
        result = run(accepted_only(A), inputs(A, B), [output(A, 0), output(B, 1)])
        assert 1 == result.unexpected
        assert "never sent" in result.samples["unexpected"][0]

    def test_record_whose_id_does_not_match_its_content_is_unexpected(self) -> None:
        result = run(accepted_only(A, B), inputs(A, B), [output(A, 0), output(B, 1, state="invoiced")])
        assert 1 == result.unexpected

    def test_record_on_the_wrong_topic_is_unexpected(self) -> None:
        result = run(accepted_only(A), inputs(A), [output(A, 0, topic=PREFIX + "unknown")])
        assert 1 == result.unexpected

    def test_record_enriched_with_another_order_is_unexpected(self) -> None:
        result = run(accepted_only(A), inputs(A), [output(A, 0, order={"orderId": OTHER})])
        assert 1 == result.unexpected


class TestMayAppear:
    """An event sent without a 200 may appear once, or not at all."""

    def expectation(self) -> Expectation:
        return Expectation.from_simulator({"payloads": [A]}, [delivery(A), delivery(B, "dropped")])

    def test_absent_is_fine(self) -> None:
        result = run(self.expectation(), inputs(A), [output(A, 0)])
        assert result.ok
        assert (1, 1, 0) == (result.must_appear, result.may_appear, result.maybe_delivered)

    def test_present_once_is_fine(self) -> None:
        result = run(self.expectation(), inputs(A, B), [output(A, 0), output(B, 1)])
        assert result.ok
        assert 1 == result.maybe_delivered

    def test_present_twice_is_duplicated(self) -> None:
        result = run(self.expectation(), inputs(A, B), [output(A, 0), output(B, 1), output(B, 2)])
        assert 1 == result.duplicated

    def test_a_lossless_second_path_turns_may_into_must(self) -> None:
        expectation = Expectation.from_simulator(
            {"payloads": [A]}, [delivery(A), delivery(B, "pending")], also_must=[event_id(B)]
        )
        assert 1 == run(expectation, inputs(A), [output(A, 0)]).lost


class TestJsonLine:
    """The verdict prints as one JSON line with every count and `ok`."""

    def test_one_line_with_counts(self) -> None:
        result = run(accepted_only(A), inputs(A), [])
        line = result.to_json()
        assert "\n" not in line
        data = json.loads(line)
        assert ("synthetic", 1, False) == (data["scenario"], data["lost"], data["ok"])
