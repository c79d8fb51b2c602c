"""Structured logging, configured in one place for every process of the bridge.

Each record is one JSON object per line with the fields operators search for (`order_id`, `state`,
`event_id`, `account`) lifted from `extra=`. Secrets never reach a record: settings hold them as
`SecretStr`, and `redact` is there for the few places that must mention a header by name.

Command-line output stays readable whatever the log format, by one rule: the services (`ingress`,
`worker`, `sim`, `dev`, `feed poll`) log at `log_level`; every other command is a one-shot tool for an
operator and logs at WARNING and above unless `VTEX_BRIDGE_LOG_LEVEL` is set explicitly (`cli_log_level`).
A one-shot command prints its result on stdout and its progress and notes on stderr through `say`, which
flushes the log handler first, so a progress line is never cut into or mixed up with a log line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import orjson

#: Attributes of a stdlib LogRecord; everything else came in through `extra=` and is emitted.
_RESERVED: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """Render a record as a single JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _AtLeast(logging.Filter):
    """Drop records below `level`: a line demoted after the loggers' own level check is held to it too."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


def configure_logging(level: str = "INFO", fmt: str = "json", repeat_interval_s: float = 10.0) -> None:
    """Route all logging to stderr in the chosen format (idempotent).

    Repeated warnings and errors pass once per `repeat_interval_s` with a count (0: every one), and a
    client library's errors about a settling cluster are not ERRORs (`bridge.log_filters`).
    """
    from bridge.log_filters import RepeatLimiter, TransientDemoter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TransientDemoter())  # first: a demoted line is limited at its new level
    handler.addFilter(_AtLeast(logging.getLevelName(level.upper())))  # ... and dropped below the level
    handler.addFilter(RepeatLimiter(repeat_interval_s))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries are chatty at INFO about every (re)connection; their warnings still show.
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def cli_log_level(configured: str, explicit: bool, service: bool) -> str:
    """Return the log level of a command: `configured` for a service or when set explicitly, else WARNING."""
    return configured if service or explicit else "WARNING"


def say(line: str, *, stream: TextIO | None = None) -> None:
    """Print an operator-facing progress line or note (stderr by default) after the pending log lines."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(ValueError, OSError):  # a handler whose stream is gone must not stop us
            handler.flush()
    target = stream if stream is not None else sys.stderr
    print(line, file=target, flush=True)


def redact(value: str | None) -> str:
    """Return a fixed mask for a secret, or "" when there is none."""
    return "**********" if value else ""
