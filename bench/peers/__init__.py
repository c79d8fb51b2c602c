"""Peers the benchmarks measure the bridge against in the same run: other ways to do the same job."""
