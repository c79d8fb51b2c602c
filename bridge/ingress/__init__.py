"""The VTEX Hook receiver: authenticate, validate and durably produce each notification to Kafka.

`create_app(settings, producer=None)` in `bridge.ingress.app` builds the aiohttp application; the
`vtex-bridge ingress` command serves it. See docs/ingress.md for accounts, secrets and status codes.
"""
