"""Benchmarks of the bridge (not tests): each module prints progress and a final JSON line of figures."""
