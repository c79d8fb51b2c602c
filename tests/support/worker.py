"""Moved to `testkit.worker`; this alias keeps older imports working."""

from testkit.worker import *  # noqa: F403
