"""Clients of VTEX's own APIs; one module per API so each has one place for auth and limits."""
