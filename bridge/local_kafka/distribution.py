"""Kafka's jars from Maven Central, fetched once into the user's cache and shared by every process.

`ensure_distribution` resolves `org.apache.kafka:kafka_2.13` and its runtime dependencies with
`mvn dependency:copy-dependencies`; a file lock keeps parallel first runs (tests, `make run`) from
downloading twice, and a marker file tells a complete download from an interrupted one.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from bridge.local_kafka.errors import LocalKafkaError

SCALA_VERSION: Final = "2.13"
SLF4J_BINDING: Final = ("org.slf4j", "slf4j-reload4j", "1.7.36")
MAVEN_TIMEOUT_S: Final = 900.0


def default_cache_dir() -> Path:
    """Return where jars and the detached broker's state live (`~/.cache/vtex-kafka-bridge`)."""
    return Path.home() / ".cache" / "vtex-kafka-bridge"


def _pom(version: str) -> str:
    group, artifact, slf4j_version = SLF4J_BINDING
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.vtex-kafka-bridge</groupId><artifactId>kafka-runtime</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>
      <version>{slf4j_version}</version></dependency>
  </dependencies>
</project>
"""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialize first downloads between parallel processes (tests, `make run`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_distribution(version: str, cache_dir: Path | None = None) -> Path:
    """Return the directory holding Kafka `version`'s jars, downloading them with Maven once."""
    root = (cache_dir or default_cache_dir()) / f"kafka-{version}"
    libs = root / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise LocalKafkaError("Maven (mvn) is not on PATH: it is needed once to fetch Kafka's jars")
    if shutil.which("java") is None:
        raise LocalKafkaError("java is not on PATH: the local Kafka broker needs Java 17")
    with file_lock(root.parent / f"kafka-{version}.lock"):
        if marker.exists():
            return libs
        with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
            work = Path(tmp)
            (work / "pom.xml").write_text(_pom(version))
            staged = work / "libs"
            command = [
                "mvn", "-q", "-B", "-f", str(work / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staged}", "-DincludeScope=runtime",
            ]  # fmt: skip
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise LocalKafkaError(f"Maven did not finish within {MAVEN_TIMEOUT_S:.0f}s") from exc
            if done.returncode != 0 or not any(staged.glob(f"kafka_{SCALA_VERSION}-*.jar")):
                tail = (done.stdout + done.stderr)[-2000:]
                raise LocalKafkaError(f"Maven could not fetch Kafka {version}:\n{tail}")
            if libs.exists():
                shutil.rmtree(libs)
            root.mkdir(parents=True, exist_ok=True)
            staged.rename(libs)
            marker.write_text(version)
    return libs
