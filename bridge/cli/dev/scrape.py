"""Read the services' Prometheus and JSON endpoints for the live view, never failing the view."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Final

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT_S: Final = 2.0

Samples = dict[str, list[tuple[dict[str, str], float]]]


async def prometheus(session: aiohttp.ClientSession, url: str) -> Samples | None:
    """Return samples by name from a /metrics endpoint, or None when it does not answer."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_S), session.get(url) as response:
            if response.status != 200:
                return None
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), float(sample.value)))
    return samples


async def json_document(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    """Return a JSON object from `url`, or None when it does not answer."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_S), session.get(url) as response:
            if response.status != 200:
                return None
            data = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def total(samples: Samples | None, name: str, **match: str) -> float:
    """Sum the samples of `name` whose labels include `match`."""
    if not samples:
        return 0.0
    return sum(
        value for labels, value in samples.get(name, []) if all(labels.get(k) == v for k, v in match.items())
    )


def by_label(samples: Samples | None, name: str, label: str) -> dict[str, float]:
    """Sum the samples of `name` grouped by the value of `label`."""
    grouped: dict[str, float] = defaultdict(float)
    for labels, value in (samples or {}).get(name, []):
        grouped[labels.get(label, "")] += value
    return dict(grouped)
