"""Moved to `testkit.probes`; this alias keeps older imports working."""

from testkit.probes import *  # noqa: F403
