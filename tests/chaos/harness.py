"""Moved to `testkit.harness`; this alias keeps older imports working."""

from testkit.harness import *  # noqa: F403
