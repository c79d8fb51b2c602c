"""`vtex-bridge worker`: run one processor worker (Faust) until SIGTERM/SIGINT.

Reads which input generation to consume (`bridge.topics.worker_switch`: generation 1 = the settings'
topic unless `vtex-bridge topics reshard` made a newer one active), creates that generation's topics
when missing if told to (`worker_create_topics`, development) or else refuses to start while one is
missing, naming it and `vtex-bridge topics apply`; on a secured cluster, refuses to start (exit 2) when
its principal may not use its consumer group or its transactional ids, naming the missing ACL
(`processors.kafka_access`); builds the app with `processors.app.create_app` and
runs it with Faust's worker, which stops cleanly on SIGTERM within `worker_stop_timeout_s` (past it,
`bridge.stop_watchdog` writes the stacks and exits with code 3). When a reshard retires the generation,
the worker stops the same way and re-executes itself to run the next one. Start several with the same
`VTEX_BRIDGE_WORKER_APP_ID` to split the partitions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.settings import Settings

if TYPE_CHECKING:
    import asyncio

    import faust

    from bridge.stop_watchdog import StopWatchdog


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


def _topic_problems(loop: asyncio.AbstractEventLoop, settings: Settings) -> str:
    """Say which topics the worker cannot use (missing, or not authorized); "" when none or unsure.

    An unreachable cluster is not a verdict: Faust keeps trying to connect.
    """
    import logging

    from aiokafka.errors import KafkaError

    from processors.topics import topic_problems

    try:
        return loop.run_until_complete(topic_problems(settings)).message()
    except (KafkaError, TimeoutError, OSError) as exc:
        logging.getLogger(__name__).warning("could not check the topics exist", extra={"error": repr(exc)})
        return ""


def _access_problems(loop: asyncio.AbstractEventLoop, settings: Settings) -> str:
    """Say which of its group and transactional ids the worker's principal may not use ("" when none).

    Only on a secured cluster (a plaintext one has no principal to grant ACLs to); an unreachable
    cluster is no verdict (`processors.kafka_access`).
    """
    import logging

    from aiokafka.errors import KafkaError

    from processors.kafka_access import access_problems

    if settings.kafka_security_protocol == "PLAINTEXT":
        return ""
    try:
        return loop.run_until_complete(access_problems(settings)).message()
    except (KafkaError, TimeoutError, OSError) as exc:
        logging.getLogger(__name__).warning(
            "could not check the group and transactional-id ACLs", extra={"error": repr(exc)}
        )
        return ""


def _worker_class(watchdog: StopWatchdog) -> type[faust.Worker]:
    """faust.Worker whose SIGUSR1 writes `bridge.stack_dumps` (threads, then tasks' await chains) instead
    of mode's dump, which also pretty-prints every frame's local variables (settings, tokens) to stderr;
    whose SIGUSR2 does not stop the event loop in pdb (mode's default: every partition would stall); and
    whose stop on SIGTERM/SIGINT is bounded by `watchdog` (`worker_stop_timeout_s`)."""
    import sys

    from bridge import stack_dumps
    from processors.faust_adapter import worker_class

    return worker_class(
        on_stop_signal=watchdog.arm,
        # the loop's SIGUSR1 handler replaced faulthandler's
        after_signal_handlers=stack_dumps.put_thread_dump_first,
        # the threads were written by faulthandler already
        on_sigusr1=lambda: stack_dumps.dump_tasks(sys.stderr),
        on_sigusr2=lambda worker: worker.log.warning("SIGUSR2 ignored (SIGUSR1 writes the stacks)"),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import signal
    import sys

    from bridge import process_runtime
    from bridge.accounts import AccountRegistry, AccountsConfigError
    from bridge.stop_watchdog import StopWatchdog
    from bridge.topics.generation import GenerationError, settings_for
    from bridge.topics.worker_switch import GenerationWatch, consuming_generation, reexec, stop_like_sigterm
    from processors.app import create_app
    from processors.console.auth import ConsoleConfigError, check_settings
    from processors.topics import ensure_topics

    try:  # the console serves customer orders: no worker without a safe login for it (docs/console.md)
        check_settings(settings)
    except ConsoleConfigError as exc:
        print(f"vtex-bridge worker: refusing to start: {exc}", file=sys.stderr)
        return 2
    try:  # every account it reads from must be usable (docs/accounts.md)
        AccountRegistry.from_settings(settings).require_app_tokens()
    except AccountsConfigError as exc:
        print(f"vtex-bridge worker: refusing to start: {exc}", file=sys.stderr)
        return 2
    loop = process_runtime.new_event_loop(settings)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # until Faust installs its own handlers
        loop.add_signal_handler(sig, stop.set)
    try:
        generation = loop.run_until_complete(consuming_generation(settings, stop))
    except GenerationError as exc:
        print(f"vtex-bridge worker: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if generation is None:
        return 0  # stopped while waiting for a migration to finish
    if settings.worker_create_topics:  # the deployment's settings: it creates the generation(s) in use
        loop.run_until_complete(ensure_topics(settings))
    elif problems := _topic_problems(loop, settings):
        print(f"vtex-bridge worker: {problems}", file=sys.stderr)
        return 2
    if refused := _access_problems(loop, settings_for(settings, generation)):
        print(f"vtex-bridge worker: {refused}", file=sys.stderr)
        return 2
    app = create_app(settings_for(settings, generation), data_dir=args.data_dir)
    watch = GenerationWatch(settings, generation, stop_like_sigterm, loop=loop)
    # A retired generation's worker goes on with the next one even when its stop had to be cut short.
    watchdog = StopWatchdog(settings.worker_stop_timeout_s, before_exit=lambda: watch.retired and reexec())
    worker = _worker_class(watchdog)(
        app,
        watch,
        loop=loop,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = int(exc.code or 0) if isinstance(exc.code, int | None) else 1
    watchdog.disarm()
    if watch.retired:
        reexec()
    return code
