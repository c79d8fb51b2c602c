"""`vtex-bridge kafka up|down|status`: the detached local Apache Kafka broker (or cluster) for development."""

from __future__ import annotations

import argparse
import sys

from bridge.settings import KafkaSettings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kafka", help="run a real local Apache Kafka broker (KRaft) from Maven Central's jars"
    )
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--port", type=int, default=None, help="listener port (default: settings)")
    parser.add_argument(
        "--brokers", type=int, default=1, help="KRaft nodes (3: a replicated cluster, RF 3 / min ISR 2)"
    )
    parser.add_argument(
        "--secure",
        action="store_true",
        help="add SASL_SSL listeners (SCRAM users per service, ACLs enforced) next to the plaintext ones",
    )
    parser.set_defaults(func=run)


def _sasl_env(bootstrap: str, security_dir: str) -> str:
    """The environment block that connects a service over SASL_SSL as `admin` (no password printed)."""
    from bridge.topics.acls import SERVICES

    return "\n".join(
        [
            f"connect as admin (or {', '.join(SERVICES)}: the same with their name and password file):",
            f"  export KAFKA_BOOTSTRAP_SERVERS={bootstrap} KAFKA_SECURITY_PROTOCOL=SASL_SSL",
            f"  export KAFKA_SASL_MECHANISM=SCRAM-SHA-512 KAFKA_SSL_CAFILE={security_dir}/ca.pem",
            f"  export KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD_FILE={security_dir}/admin.password",
        ]
    )


def run(args: argparse.Namespace, settings: KafkaSettings) -> int:
    from bridge import local_kafka

    cache = settings.kafka_local_dir or local_kafka.default_cache_dir()
    try:
        if args.action == "up":
            if args.brokers < 1:
                print("vtex-bridge kafka up: --brokers must be at least 1", file=sys.stderr)
                return 2
            state = local_kafka.detached_up(
                settings.kafka_local_version,
                args.port or settings.kafka_local_port,
                cache,
                brokers=args.brokers,
                secure=args.secure,
            )
            pids = ", ".join(str(pid) for pid in state.all_pids())
            print(f"kafka up: {state.bootstrap} (pid {pids}, data in {state.work_dir})")
            if state.sasl_bootstrap:
                print(
                    f"SASL_SSL: {state.sasl_bootstrap} (CA {state.security_dir}/ca.pem, "
                    f"SCRAM users and passwords in {state.security_dir}/users.json)"
                )
                print(_sasl_env(state.sasl_bootstrap, state.security_dir))
            return 0
        if args.action == "down":
            stopped = local_kafka.detached_down(cache)
            pids = ", ".join(str(pid) for pid in stopped.all_pids()) if stopped else ""
            print("kafka down" + (f": stopped pid {pids}" if stopped else ": nothing was running"))
            return 0
        running = local_kafka.DetachedState.read(cache)
        if running is None or not running.alive():
            print("kafka status: not running")
            return 3
        answers = local_kafka.broker_answers(running.bootstrap)
        print(
            f"kafka status: pid {', '.join(str(p) for p in running.all_pids())} on {running.bootstrap}, "
            f"{'answering' if answers else 'NOT answering'} metadata requests"
        )
        return 0 if answers else 1
    except local_kafka.LocalKafkaError as exc:
        print(f"vtex-bridge kafka {args.action}: {exc}", file=sys.stderr)
        return 1
