"""`vtex-bridge kafka up|down|status`: the detached local Apache Kafka broker for development."""

from __future__ import annotations

import argparse
import sys

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kafka", help="run a real local Apache Kafka broker (KRaft) from Maven Central's jars"
    )
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--port", type=int, default=None, help="listener port (default: settings)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bridge import local_kafka

    cache = settings.kafka_local_dir or local_kafka.default_cache_dir()
    try:
        if args.action == "up":
            state = local_kafka.detached_up(
                settings.kafka_local_version, args.port or settings.kafka_local_port, cache
            )
            print(f"kafka up: {state.bootstrap} (pid {state.pid}, data in {state.work_dir})")
            return 0
        if args.action == "down":
            stopped = local_kafka.detached_down(cache)
            print("kafka down" + (f": stopped pid {stopped.pid}" if stopped else ": nothing was running"))
            return 0
        running = local_kafka.DetachedState.read(cache)
        if running is None or not running.alive():
            print("kafka status: not running")
            return 3
        answers = local_kafka.broker_answers(running.bootstrap)
        print(
            f"kafka status: pid {running.pid} on {running.bootstrap}, "
            f"{'answering' if answers else 'NOT answering'} metadata requests"
        )
        return 0 if answers else 1
    except local_kafka.LocalKafkaError as exc:
        print(f"vtex-bridge kafka {args.action}: {exc}", file=sys.stderr)
        return 1
