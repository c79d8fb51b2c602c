"""bridge.log_filters: a repeated line passes once per interval with a count; no ERROR while settling."""

from __future__ import annotations

import io
import logging

import orjson

from bridge.log import JsonFormatter
from bridge.log_filters import RepeatLimiter, TransientDemoter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, level: int = logging.WARNING, name: str = "bridge.ingress"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_first_passes_then_one_per_interval_with_the_count() -> None:
    clock = Clock()
    limiter = RepeatLimiter(10.0, clock=clock)
    assert limiter.filter(record("hook refused: no Kafka producer"))
    passed = 0
    for _ in range(500):  # one outage second: every hook refused
        clock.now += 0.01
        passed += limiter.filter(record("hook refused: no Kafka producer"))
    assert passed == 0
    clock.now += 10.0
    summary = record("hook refused: no Kafka producer")
    assert limiter.filter(summary)
    assert (vars(summary)["repeats_suppressed"], vars(summary)["repeat_interval_s"]) == (500, 10.0)
    clock.now += 11.0
    quiet = record("hook refused: no Kafka producer")
    assert limiter.filter(quiet) and not hasattr(quiet, "repeats_suppressed")


def test_same_template_different_arguments_is_the_same_line() -> None:
    limiter = RepeatLimiter(10.0, clock=Clock())
    assert limiter.filter(record("Unable connect to node with id %s: %s", 1, "refused", name="aiokafka"))
    assert not limiter.filter(record("Unable connect to node with id %s: %s", 2, "refused", name="aiokafka"))
    # another message, logger or level is another line
    assert limiter.filter(record("Unable to update metadata from %s", [1], name="aiokafka"))
    assert limiter.filter(record("Unable connect to node with id %s: %s", 1, "x", name="aiokafka.conn"))
    assert limiter.filter(
        record("Unable connect to node with id %s: %s", 1, "x", name="aiokafka", level=logging.ERROR)
    )


def test_info_lines_and_a_zero_interval_are_never_limited() -> None:
    limiter = RepeatLimiter(10.0, clock=Clock())
    assert all(limiter.filter(record("kafka producer connected", level=logging.INFO)) for _ in range(3))
    off = RepeatLimiter(0.0, clock=Clock())
    assert all(off.filter(record("hook refused")) for _ in range(3))


def test_keys_are_bounded() -> None:
    limiter = RepeatLimiter(10.0, max_keys=3, clock=Clock())
    for i in range(10):
        assert limiter.filter(record(f"distinct {i}"))
    assert len(limiter._seen) == 3


def test_settling_cluster_errors_are_info_at_start_then_warning() -> None:
    clock = Clock()
    demoter = TransientDemoter(grace_s=60.0, clock=clock)
    early = record("Group Coordinator Request failed: %s", "[Error 15] GroupCoordinatorNotAvailableError",
                   level=logging.ERROR, name="aiokafka.consumer.group_coordinator")  # fmt: skip
    assert demoter.filter(early) and (early.levelno, early.levelname) == (logging.INFO, "INFO")
    clock.now += 61.0
    later = record(
        "Got error produce response: %s", "NotLeaderForPartitionError", level=logging.ERROR, name="aiokafka"
    )
    assert demoter.filter(later) and later.levelname == "WARNING"
    ours = record("GroupCoordinatorNotAvailable seen", level=logging.ERROR, name="bridge.ingress")
    real = record("Unable connect to node with id %s: %s", 1, "refused", level=logging.ERROR, name="aiokafka")
    assert demoter.filter(ours) and ours.levelno == logging.ERROR  # not a client library's line
    assert demoter.filter(real) and real.levelno == logging.ERROR  # not a settling cluster


def test_the_count_reaches_the_json_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    clock = Clock()
    handler.addFilter(RepeatLimiter(5.0, clock=clock))
    logger = logging.getLogger("test.log_filters")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for _ in range(4):
            logger.warning("hook refused: no Kafka producer", extra={"order_id": "o1"})
        clock.now += 6.0
        logger.warning("hook refused: no Kafka producer", extra={"order_id": "o2"})
    finally:
        logger.removeHandler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("repeats_suppressed") for line in lines] == [None, 3]
    assert lines[1]["order_id"] == "o2"


def test_every_process_gets_both_filters() -> None:
    from bridge.log import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json", 7.0)
        (handler,) = root.handlers
        kinds = [type(f) for f in handler.filters]
        # demote transient errors first, then drop what falls below the level, then limit repeats
        assert kinds[0] is TransientDemoter
        assert kinds[-1] is RepeatLimiter
        assert handler.filters[-1]._interval == 7.0  # type: ignore[union-attr]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
