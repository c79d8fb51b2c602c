"""`vtex-bridge worker`: run one processor worker (Faust) until SIGTERM/SIGINT.

Creates the input, dead-letter, status and changelog topics when missing (`worker_create_topics`),
builds the app with `processors.app.create_app(settings)` and runs it with Faust's worker, which stops
cleanly on SIGTERM. Start several with the same `VTEX_BRIDGE_WORKER_APP_ID` to split the partitions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker", help="run a processor worker: de-dup, order, enrich from OMS, route to status topics"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="local state directory (default: ./.vtex-bridge/<worker_app_id>)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    import faust

    from processors.app import create_app
    from processors.topics import ensure_topics

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if settings.worker_create_topics:
        loop.run_until_complete(ensure_topics(settings))
    app = create_app(settings, data_dir=args.data_dir)
    worker = faust.Worker(
        app,
        loop=loop,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 1
    return 0
