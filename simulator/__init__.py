"""A faithful, seeded VTEX simulator (OMS, hook and feed configuration, Feed v3 queue, hook sender)."""
