"""The Feed v3 poller: the backup path that catches every order event a hook might have missed.

It reads Feed v3 in bounded lots, turns each camelCase item into the PascalCase hook payload, produces
it to the input topic exactly like the ingress (same key, same `event_id`, `source: feed`) and commits
the handles only once Kafka acknowledged every record of the lot. A crash anywhere loses nothing: what
was not committed becomes visible again after the visibility timeout, and the processor's de-dup on
`event_id` absorbs the overlap with hooks and with re-reads.
"""
