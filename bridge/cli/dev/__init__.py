"""`vtex-bridge dev`: the whole bridge on one machine, with a live view of what flows."""
