"""Moved to `testkit.fake_oms`; this alias keeps older imports working."""

from testkit.fake_oms import *  # noqa: F403
