"""The one error the local Kafka tooling raises, so callers catch a single type with a readable reason."""

from __future__ import annotations


class LocalKafkaError(RuntimeError):
    """The local broker could not be installed, started or stopped; the message says why."""
