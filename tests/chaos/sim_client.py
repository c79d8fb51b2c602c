"""Moved to `testkit.sim_client`; this alias keeps older imports working."""

from testkit.sim_client import *  # noqa: F403
