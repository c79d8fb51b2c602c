"""Render the Kubernetes overlays exactly as `kubectl apply -k` would, with kustomize's own Go module.

`deploy/tools/kustomize-render` is a 30-line Go program around `sigs.k8s.io/kustomize/api` (pinned in its
go.mod/go.sum). It is built once into the user's cache, keyed by the hash of its sources, so later runs
reuse it; the first build fetches the module through the Go module proxy (about a minute on 2 cores).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
K8S: Final = ROOT / "deploy" / "k8s"
OVERLAYS: Final = K8S / "overlays"
RENDERER_SOURCE: Final = ROOT / "deploy" / "tools" / "kustomize-render"
BUILD_TIMEOUT_S: Final = 600


class RendererUnavailable(RuntimeError):
    """Go is missing or the renderer does not build: the overlays cannot be checked."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vtex-kafka-bridge" / "tools"


@functools.cache
def renderer() -> Path:
    """Return the built renderer, building it on first use."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((RENDERER_SOURCE / name).read_bytes())
    binary = _cache_dir() / f"kustomize-render-{digest.hexdigest()[:16]}"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise RendererUnavailable("rendering the Kubernetes overlays needs Go (https://go.dev/dl/) on PATH")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    build = subprocess.run(  # noqa: S603 - the Go toolchain on our own sources
        [go, "build", "-mod=readonly", "-o", str(partial), "."],
        cwd=RENDERER_SOURCE,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if build.returncode != 0:
        raise RendererUnavailable(f"go build of {RENDERER_SOURCE} failed:\n{build.stderr[-2000:]}")
    partial.replace(binary)
    return binary


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
