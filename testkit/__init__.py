"""Tooling shared by the tests and the benchmarks: Kafka helpers, a fake OMS, worker processes, the
chaos harness and the accounting checker.

It lives outside `tests/` so that `bench/` never imports test modules, and outside the product packages
so that it is never shipped in the wheel or the image.
"""
