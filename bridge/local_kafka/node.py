"""One local KRaft node (broker and controller in one JVM): format its storage, start, wait, stop.

The node is started on loopback from the jars `ensure_distribution` fetched, is ready only once it
answers metadata requests (and its SASL_SSL port accepts, when secured), and is stopped by its process
group; a test session's node dies with its parent, so a killed run leaves no JVM behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bridge.local_kafka.errors import LocalKafkaError
from bridge.local_kafka.probe import broker_answers, free_port, port_open
from bridge.local_kafka.processes import STOP_TIMEOUT_S, die_with_parent, stop_process_group
from bridge.local_kafka.security import LocalSecurity
from bridge.local_kafka.server_config import kafka_cluster_id, log4j_properties, server_properties

READY_TIMEOUT_S: Final = 120.0


@dataclass
class LocalKafka:
    """One combined KRaft node (broker and controller) listening on 127.0.0.1.

    Alone it is a single-node cluster; `LocalCluster` starts several that share `cluster_id` and
    `quorum_voters`. With `security`, a SASL_SSL listener (SCRAM, users created when the storage is
    formatted) on `sasl_port` and the StandardAuthorizer join the plaintext listener, which stays the
    cluster's internal one (brokers, controllers, the readiness probe) on loopback.
    """

    libs: Path
    work_dir: Path
    port: int = 0
    controller_port: int = 0
    heap: str = "512m"
    tie_to_parent: bool = True
    process: subprocess.Popen[bytes] | None = None
    node_id: int = 1
    #: `controller.quorum.voters`; empty = this node alone.
    quorum_voters: str = ""
    #: Replicas of new topics and of the internal ones (min ISR: 2 from 3 replicas on, else 1).
    replication: int = 1
    cluster_id: str = ""
    security: LocalSecurity | None = None
    sasl_port: int = 0

    def __post_init__(self) -> None:
        #: Whether the client ports were picked here (and may be picked again if taken meanwhile).
        self.own_ports = not self.port and not self.sasl_port
        self.started_once = False
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        self.quorum_voters = self.quorum_voters or f"{self.node_id}@127.0.0.1:{self.controller_port}"
        if self.security is not None:
            self.sasl_port = self.sasl_port or free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_SSL listener's address (empty without `security`)."""
        return f"127.0.0.1:{self.sasl_port}" if self.security is not None else ""

    @property
    def log_file(self) -> Path:
        return self.work_dir / "server.log"

    def _write_config(self) -> Path:
        data = self.work_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        properties = server_properties(
            node_id=self.node_id,
            quorum_voters=self.quorum_voters,
            port=self.port,
            controller_port=self.controller_port,
            data_dir=data,
            replication=self.replication,
            security=self.security,
            sasl_port=self.sasl_port,
        )
        config = self.work_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        (self.work_dir / "log4j.properties").write_text(log4j_properties(self.log_file))
        return config

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            "java", f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.work_dir / 'log4j.properties'}",
            "-cp", f"{self.libs}/*", main_class, *args,
        ]  # fmt: skip

    def _format_storage(self, config: Path) -> None:
        if (self.work_dir / "data" / "meta.properties").exists():
            return
        self.cluster_id = self.cluster_id or kafka_cluster_id()
        scram = self.security.format_arguments() if self.security is not None else []
        done = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(config), *scram),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise LocalKafkaError(f"formatting Kafka storage failed:\n{done.stderr[-2000:]}")

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Format storage if new, start the JVM and return once the broker answers metadata."""
        self.launch()
        self.wait_ready_or_relaunch(timeout)

    def wait_ready_or_relaunch(self, timeout: float = READY_TIMEOUT_S) -> None:
        """`wait_ready`; on a first start whose client port was taken meanwhile, try other ports.

        `free_port` only finds a port free at that moment: another process's outgoing connection may
        take it before the JVM binds it (seen on busy machines), which is no reason to fail.
        """
        for attempt in range(3):
            log_size = self.log_file.stat().st_size if self.log_file.exists() else 0
            try:
                self.wait_ready(timeout)
                self.started_once = True
                return
            except LocalKafkaError:
                if (
                    attempt == 2
                    or self.started_once
                    or not self.own_ports
                    or not self._client_port_taken(log_size)
                ):
                    raise
            self.port = free_port()
            if self.security is not None:
                self.sasl_port = free_port()
            self.launch()

    def _client_port_taken(self, log_offset: int) -> bool:
        """Tell whether the broker's last start failed because its client or SASL port was in use."""
        with contextlib.suppress(OSError), self.log_file.open("rb") as log:
            log.seek(log_offset)
            text = log.read().decode(errors="replace")
            ports = [f"127.0.0.1:{self.port}"] + ([f"127.0.0.1:{self.sasl_port}"] if self.security else [])
            return "Address already in use" in text and any(f"bind to {port}" in text for port in ports)
        return False

    def launch(self) -> None:
        """Format storage if new and start the JVM, without waiting (a quorum starts its nodes at once)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        self._format_storage(config)
        stdout = (self.work_dir / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(config)),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if self.tie_to_parent else None,
        )
        stdout.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until the broker answers metadata; on failure stop it and raise with the log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LocalKafkaError(
                    f"Kafka exited with code {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            if broker_answers(self.bootstrap) and (self.security is None or port_open(self.sasl_bootstrap)):
                return
            time.sleep(0.25)
        self.stop()
        raise LocalKafkaError(
            f"Kafka did not answer on {self.bootstrap} within {timeout:.0f}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for path in (self.work_dir / "stdout.log", self.log_file):
            if path.exists():
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the broker's process group, wait for a clean shutdown, then SIGKILL."""
        if self.process is None:
            return
        stop_process_group(self.process.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the broker at once (fault injection)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)
            self.process = None
