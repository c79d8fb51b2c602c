"""vtex-kafka-bridge: VTEX order notifications in, ordered, de-duplicated, enriched Kafka topics out.

This package holds the edge (the aiohttp ingress), the VTEX client, the shared event contract, settings,
logging and the `vtex-bridge` command line.
"""

__version__ = "0.1.0"
