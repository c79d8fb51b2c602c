"""Routing lives in `bridge.routing` (the topic plan in `bridge.topics` needs it too); re-exported here."""

from bridge.routing import Route, Router, RoutingConfigError, router_for

__all__ = ["Route", "Router", "RoutingConfigError", "router_for"]
