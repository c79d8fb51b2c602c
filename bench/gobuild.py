"""Build a small Go program of this repository once per source version, into the user's cache.

Used for the benchmark peers (`bench/peers/go-ingress`) and the Kubernetes overlay renderer
(`deploy/tools/kustomize-render`). The binary's name carries a hash of the program's go.mod, go.sum and
Go files, so a changed source builds again and an unchanged one never does; the first build fetches its
modules through the Go module proxy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

BUILD_TIMEOUT_S: Final = 600


class GoUnavailable(RuntimeError):
    """Go is not installed, or the program does not build."""


def cache_dir() -> Path:
    """Return where built tools live: `$XDG_CACHE_HOME` or ~/.cache, under vtex-kafka-bridge/tools."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vtex-kafka-bridge" / "tools"


def go_build(source: Path, name: str) -> Path:
    """Return the binary of the Go program in `source`, building it first when this version is new."""
    digest = hashlib.sha256()
    for path in sorted([*source.glob("*.go"), source / "go.mod", source / "go.sum"]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    binary = cache_dir() / f"{name}-{digest.hexdigest()[:16]}"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise GoUnavailable(f"building {name} needs Go (https://go.dev/dl/) on PATH")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.partial")
    build = subprocess.run(  # noqa: S603 - the Go toolchain on this repository's own sources
        [go, "build", "-mod=readonly", "-o", str(partial), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if build.returncode != 0:
        raise GoUnavailable(f"go build of {source} failed:\n{build.stderr[-2000:]}")
    partial.replace(binary)
    return binary
