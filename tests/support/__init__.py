"""Helpers shared by the test suites (a real Kafka broker, topic helpers, polling with deadlines)."""
