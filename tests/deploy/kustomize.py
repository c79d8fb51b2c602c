"""Render the Kubernetes overlays exactly as `kubectl apply -k` would, with kustomize's own Go module.

`deploy/tools/kustomize-render` is a 30-line Go program around `sigs.k8s.io/kustomize/api` (pinned in its
go.mod/go.sum). It is built once into the user's cache, keyed by the hash of its sources (bench.gobuild),
so later runs reuse it; the first build fetches the module through the Go module proxy (about a minute
on 2 cores).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Final

import yaml

from bench.gobuild import go_build

ROOT: Final = Path(__file__).resolve().parents[2]
K8S: Final = ROOT / "deploy" / "k8s"
OVERLAYS: Final = K8S / "overlays"
RENDERER_SOURCE: Final = ROOT / "deploy" / "tools" / "kustomize-render"


def renderer() -> Path:
    """Return the built renderer, building it on first use (bench.gobuild)."""
    return go_build(RENDERER_SOURCE, "kustomize-render")


def render(directory: Path) -> list[dict[str, Any]]:
    """Return the objects `kubectl kustomize directory` prints; raise with kustomize's message."""
    result = subprocess.run(  # noqa: S603 - our renderer on our own manifests
        [str(renderer()), str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize {directory}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def overlays() -> list[str]:
    """Return the overlay names (deploy/k8s/overlays/*)."""
    return sorted(p.name for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists())
