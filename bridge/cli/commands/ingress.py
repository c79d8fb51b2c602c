"""`vtex-bridge ingress`: serve the VTEX Hook receiver until SIGTERM or Ctrl-C, then shut down cleanly."""

from __future__ import annotations

import argparse

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ingress",
        help="serve the VTEX Hook endpoint (POST settings.ingress_path) and produce to Kafka",
        description="Receive VTEX order hooks, authenticate and validate them, and produce each to the input "
        "topic; answer 200 only after Kafka acknowledged it. Configuration: VTEX_BRIDGE_INGRESS_* "
        "and docs/ingress.md.",
    )
    parser.add_argument("--host", help="listen address (default: settings.ingress_host)")
    parser.add_argument("--port", type=int, help="listen port (default: settings.ingress_port)")
    parser.add_argument(
        "--workers",
        type=_workers,
        help="processes sharing the port, each with its own Kafka producer (default: "
        "settings.ingress_workers; unset: 1 in the dev profile, else the CPUs available); /metrics "
        "aggregates them",
    )
    parser.set_defaults(func=run)


def _workers(value: str) -> int:
    count = int(value)
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return count


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until a stop signal; return 0 after a graceful shutdown, 1 when it cannot start or a worker
    of several exited on its own."""
    import gc
    import logging

    from bridge import process_runtime
    from bridge.ingress import workers
    from bridge.ingress.accounts import AccountsConfigError, load_accounts
    from bridge.ingress.server import serve

    log = logging.getLogger("bridge.ingress")
    host = args.host or settings.ingress_host
    port = args.port or settings.ingress_port
    count = args.workers or workers.worker_count(settings)

    def freeze_heap(_port: int) -> None:
        # Everything built so far lives as long as the process: keep it out of the collector's scans
        # (a process-wide choice, hence here and not in `serve`, which tests run in their own process).
        gc.freeze()

    try:
        if count > 1:
            load_accounts(settings)  # a refused configuration fails here, once, not in every worker
            return workers.run(settings, host=host, port=port, count=count)
        process_runtime.run(settings, serve(settings, host=host, port=port, started=freeze_heap))
    except AccountsConfigError as exc:
        log.error("ingress cannot start: %s", exc)
        return 1
    except OSError as exc:
        metrics = f"{settings.ingress_metrics_host}:{settings.ingress_metrics_port}"
        log.error("ingress cannot listen on %s:%s (metrics on %s): %s", host, port, metrics, exc)
        return 1
    return 0
