"""Moved to `testkit.kafka`; this alias keeps older imports working."""

from testkit.kafka import *  # noqa: F403
