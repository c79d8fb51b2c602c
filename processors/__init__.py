"""The processor: a faust-streaming app that de-duplicates, orders, enriches and routes events."""
