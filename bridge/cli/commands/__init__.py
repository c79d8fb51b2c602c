"""Sub-commands of `vtex-bridge`, one module each (see `bridge.cli`)."""
