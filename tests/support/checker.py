"""Moved to `testkit.checker`; this alias keeps older imports working."""

from testkit.checker import *  # noqa: F403
