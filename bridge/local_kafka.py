"""A real single-node Apache Kafka (KRaft) started from the official jars on Maven Central.

Our machines and CI have Java and Maven but no Docker engine, so the project runs the broker itself:
`ensure_distribution` resolves `org.apache.kafka:kafka_2.13` and its runtime dependencies with
`mvn dependency:copy-dependencies` into the user's cache (only the first run downloads), and
`LocalKafka` formats a storage directory, starts the JVM on loopback, waits until the broker really
answers metadata requests and stops it cleanly (SIGTERM to its process group, then SIGKILL).

A broker started for a test session is tied to its parent with PR_SET_PDEATHSIG, so even a killed test
run leaves no orphan JVM behind; `vtex-bridge kafka up` starts a detached one and records it in a state
file that `kafka down` and `kafka status` read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

SCALA_VERSION: Final = "2.13"
SLF4J_BINDING: Final = ("org.slf4j", "slf4j-reload4j", "1.7.36")
MAVEN_TIMEOUT_S: Final = 900.0
READY_TIMEOUT_S: Final = 120.0
STOP_TIMEOUT_S: Final = 30.0
#: How long a process that did not stop gets to write its stacks before SIGKILL (it takes milliseconds).
DUMP_GRACE_S: Final = 2.0
METADATA_PROBE_TIMEOUT_S: Final = 5.0
_PR_SET_PDEATHSIG: Final = 1

T = TypeVar("T")


class LocalKafkaError(RuntimeError):
    """The local broker could not be installed, started or stopped; the message says why."""


def default_cache_dir() -> Path:
    """Return where jars and the detached broker's state live (`~/.cache/vtex-kafka-bridge`)."""
    return Path.home() / ".cache" / "vtex-kafka-bridge"


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- distribution -------------------------------------------------------------------------------


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
def _file_lock(path: Path) -> Iterator[None]:
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
    with _file_lock(root.parent / f"kafka-{version}.lock"):
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


# --- broker -----------------------------------------------------------------------------------------


def _run_in_fresh_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a private event loop in a thread, so sync callers inside a running loop work."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, name="kafka-probe", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


async def _metadata_answers(bootstrap: str) -> bool:
    """Tell whether a broker at `bootstrap` answers a metadata request listing itself."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(METADATA_PROBE_TIMEOUT_S * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), METADATA_PROBE_TIMEOUT_S)
        cluster = await asyncio.wait_for(admin.describe_cluster(), METADATA_PROBE_TIMEOUT_S)
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), METADATA_PROBE_TIMEOUT_S)


def _port_open(bootstrap: str) -> bool:
    """Tell whether the first bootstrap address accepts TCP connections (cheap, and logs nothing)."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def broker_answers(bootstrap: str) -> bool:
    """Tell (synchronously) whether a Kafka broker answers metadata requests at `bootstrap`."""
    if not _port_open(bootstrap):
        return False
    return _run_in_fresh_loop(_metadata_answers(bootstrap))


def _die_with_parent() -> None:
    """Child-side hook: ask the kernel to SIGTERM the JVM when the process that started it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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
        replicas = str(self.replication)
        min_isr = "2" if self.replication >= 3 else "1"
        properties = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.quorum_voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(data),
            # One node: every internal topic has one replica; three or more: 3 replicas, min ISR 2.
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "10",
            "min.insync.replicas": min_isr,
            "default.replication.factor": replicas,
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "log.retention.hours": "168",
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        }
        if self.replication > 1:
            # The bound of a broker's own requests to the others, among them a transaction
            # coordinator's commit/abort markers. A marker sent to a broker that froze is retried
            # at the partition's new leader only after this (30 s by default): until then the
            # transaction stays pending, and its producer (a worker's partition writer) can neither
            # commit nor start over. 10 s lets the writers follow a failover like the rest.
            properties["request.timeout.ms"] = "10000"
        if self.security is not None:
            properties.update(self.security.broker_properties(self.sasl_port))
            properties["listeners"] += f",SASL_SSL://127.0.0.1:{self.sasl_port}"
            properties["advertised.listeners"] += f",SASL_SSL://127.0.0.1:{self.sasl_port}"
            properties["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
        config = self.work_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        log4j = self.work_dir / "log4j.properties"
        log4j.write_text(
            "log4j.rootLogger=INFO, file\n"
            "log4j.appender.file=org.apache.log4j.FileAppender\n"
            f"log4j.appender.file.File={self.log_file}\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.request.logger=WARN\n"
            "log4j.logger.state.change.logger=WARN\n"
        )
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
        self.cluster_id = self.cluster_id or _kafka_cluster_id()
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
            preexec_fn=_die_with_parent if self.tie_to_parent else None,
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
            if broker_answers(self.bootstrap) and (self.security is None or _port_open(self.sasl_bootstrap)):
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


@dataclass(frozen=True)
class LocalSecurity:
    """A local CA, the brokers' TLS keystore and the SCRAM users of a secured local cluster.

    `generate` makes them once per directory with the JDK's keytool (a CA, one broker certificate for
    127.0.0.1 and localhost signed by it); `users` maps each principal to its password, written to
    `users.json` next to `ca.pem` and, one per user, to `<user>.password` (what
    `KAFKA_SASL_PASSWORD_FILE` reads; local use only). `admin` is the super user that manages ACLs.
    """

    directory: Path
    password: str
    users: dict[str, str]
    admin: str = "admin"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    def password_file(self, user: str) -> Path:
        """The file holding `user`'s password alone (for `KAFKA_SASL_PASSWORD_FILE`)."""
        return self.directory / f"{user}.password"

    def broker_properties(self, sasl_port: int) -> dict[str, str]:
        """Return the server properties of the SASL_SSL listener and the authorizer."""
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.password,
            "ssl.key.password": self.password,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            # The internal plaintext listener (loopback only) and the admin are trusted.
            "super.users": f"User:ANONYMOUS;User:{self.admin}",
        }

    def format_arguments(self) -> list[str]:
        """Return `kafka-storage format` arguments creating every user (both SCRAM mechanisms)."""
        arguments: list[str] = []
        for name, password in sorted(self.users.items()):
            for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
                arguments += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return arguments

    @classmethod
    def generate(cls, directory: Path, users: Iterable[str] = ()) -> LocalSecurity:
        """Return the security material in `directory`, creating what is missing (users: new ones)."""
        directory.mkdir(parents=True, exist_ok=True)
        with _file_lock(directory.parent / f"{directory.name}.lock"):  # shared by parallel test runs
            users_file = directory / "users.json"
            known: dict[str, Any] = json.loads(users_file.read_text()) if users_file.exists() else {}
            password = str(known.get("store_password") or uuid.uuid4().hex)
            passwords: dict[str, str] = dict(known.get("users", {}))
            for name in ("admin", *users):
                passwords.setdefault(name, uuid.uuid4().hex)
            security = cls(directory=directory, password=password, users=passwords)
            if not security.keystore.exists() or not security.ca_file.exists():
                _keytool_certificates(directory, password)
            users_file.write_text(json.dumps({"store_password": password, "users": passwords}, indent=2))
            users_file.chmod(0o600)
            for name, secret in passwords.items():
                path = security.password_file(name)
                path.touch(mode=0o600)
                path.write_text(secret + "\n")
        return security


def _keytool_certificates(directory: Path, password: str) -> None:
    """Make a CA (`ca.pem`) and a broker keystore (`broker.p12`) whose certificate the CA signed."""
    if shutil.which("keytool") is None:
        raise LocalKafkaError("keytool (part of the JDK) is not on PATH: it makes the local certificates")
    names = "SAN=dns:localhost,ip:127.0.0.1"
    common = ["-storepass", password, "-keypass", password, "-storetype", "PKCS12"]
    ca, broker = str(directory / "ca.p12"), str(directory / "broker.p12")
    csr, signed, ca_pem = (str(directory / n) for n in ("broker.csr", "broker.crt", "ca.pem"))
    for path in (ca, broker):
        Path(path).unlink(missing_ok=True)
    steps = [
        ["-genkeypair", "-alias", "ca", "-keystore", ca, "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=vtex-bridge local CA", "-ext", "bc:c", "-validity", "3650", *common],
        ["-exportcert", "-alias", "ca", "-keystore", ca, "-rfc", "-file", ca_pem, *common],
        ["-genkeypair", "-alias", "broker", "-keystore", broker, "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=localhost", "-ext", names, "-validity", "3650", *common],
        ["-certreq", "-alias", "broker", "-keystore", broker, "-file", csr, *common],
        ["-gencert", "-alias", "ca", "-keystore", ca, "-infile", csr, "-outfile", signed, "-rfc",
         "-ext", names, "-validity", "3650", *common],
        ["-importcert", "-alias", "ca", "-keystore", broker, "-file", ca_pem, "-noprompt", *common],
        ["-importcert", "-alias", "broker", "-keystore", broker, "-file", signed, "-noprompt", *common],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(["keytool", *step], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise LocalKafkaError(f"keytool {step[0]} failed: {(done.stdout + done.stderr)[-1000:]}")


@dataclass
class LocalCluster:
    """`brokers` combined KRaft nodes on loopback forming one cluster (3: RF 3, min ISR 2 defaults).

    Every node is started before any is waited for (the controllers need a majority to elect a
    leader); `stop` stops every node it started, by its process group.
    """

    libs: Path
    work_dir: Path
    brokers: int = 3
    security: LocalSecurity | None = None
    tie_to_parent: bool = True
    heap: str = "384m"
    nodes: list[LocalKafka] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            controllers = [free_port() for _ in range(self.brokers)]
            voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controllers))
            cluster_id = _kafka_cluster_id()
            self.nodes = [
                LocalKafka(
                    libs=self.libs,
                    work_dir=self.work_dir / f"node-{i + 1}",
                    controller_port=controllers[i],
                    heap=self.heap,
                    tie_to_parent=self.tie_to_parent,
                    node_id=i + 1,
                    quorum_voters=voters,
                    replication=min(self.brokers, 3),
                    cluster_id=cluster_id,
                    security=self.security,
                )
                for i in range(self.brokers)
            ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def sasl_bootstrap(self) -> str:
        return ",".join(node.sasl_bootstrap for node in self.nodes) if self.security is not None else ""

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start every node, then return once each answers and the cluster lists all of them."""
        try:
            for node in self.nodes:
                node.launch()
            deadline = time.monotonic() + timeout
            for node in self.nodes:
                node.wait_ready_or_relaunch(max(1.0, deadline - time.monotonic()))
            while cluster_size(self.bootstrap) < len(self.nodes):
                if time.monotonic() > deadline:
                    raise LocalKafkaError(f"the cluster did not list {len(self.nodes)} brokers in time")
                time.sleep(0.25)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every node (SIGTERM to each process group at once, then SIGKILL what is left)."""
        running = [node for node in self.nodes if node.process is not None]
        for node in running:
            assert node.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGTERM)
        for node in running:
            node.stop(timeout)


def cluster_size(bootstrap: str) -> int:
    """Return how many brokers the cluster at `bootstrap` lists (0 when it does not answer)."""
    return _run_in_fresh_loop(_count_brokers(bootstrap))


async def _count_brokers(bootstrap: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(METADATA_PROBE_TIMEOUT_S * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), METADATA_PROBE_TIMEOUT_S)
        cluster = await asyncio.wait_for(admin.describe_cluster(), METADATA_PROBE_TIMEOUT_S)
        return len(cluster.get("brokers") or [])
    except Exception:
        return 0
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), METADATA_PROBE_TIMEOUT_S)


def _kafka_cluster_id() -> str:
    """Return a Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own `Uuid.randomUuid`, never one starting with "-": the storage tool's argument parser
    would read it as an option (`--cluster-id/-t: expected one argument`), failing 1 start in 64.
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def stop_process_group(pid: int, timeout: float = STOP_TIMEOUT_S, *, dump_signal: int | None = None) -> None:
    """SIGTERM the group led by `pid`, then SIGKILL it if it is still there after `timeout`.

    With `dump_signal`, a leader that did not stop first gets that signal and a moment to write its
    stacks (our services: `bridge.stack_dumps`), so a hang in the stop path leaves more than a log
    that ends.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout) and dump_signal is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, dump_signal)
        _wait_gone(pid, DUMP_GRACE_S)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Reap `pid` if it is our child; return whether it exited within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    return not _alive(pid)


# --- the detached broker of `vtex-bridge kafka up|down|status` --------------------------------------


@dataclass(frozen=True)
class DetachedState:
    pid: int
    bootstrap: str
    work_dir: str
    #: Every node's pid (a cluster); `pid` is the first.
    pids: tuple[int, ...] = ()
    #: The SASL_SSL listeners and the security directory (CA, users.json) of a secured cluster.
    sasl_bootstrap: str = ""
    security_dir: str = ""

    @classmethod
    def path(cls, cache_dir: Path) -> Path:
        return cache_dir / "run" / "kafka.json"

    @classmethod
    def read(cls, cache_dir: Path) -> DetachedState | None:
        path = cls.path(cache_dir)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(
            pid=int(data["pid"]),
            bootstrap=str(data["bootstrap"]),
            work_dir=data["work_dir"],
            pids=tuple(int(p) for p in data.get("pids", ())),
            sasl_bootstrap=str(data.get("sasl_bootstrap", "")),
            security_dir=str(data.get("security_dir", "")),
        )

    def write(self, cache_dir: Path) -> None:
        path = self.path(cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**self.__dict__, "pids": list(self.pids)}))

    def all_pids(self) -> tuple[int, ...]:
        return self.pids or (self.pid,)

    def alive(self) -> bool:
        return any(_alive(pid) for pid in self.all_pids())


def detached_up(
    version: str, port: int, cache_dir: Path | None = None, *, brokers: int = 1, secure: bool = False
) -> DetachedState:
    """Start (or find running) the detached local broker or cluster and return its state.

    One plaintext broker is the default; `brokers` > 1 starts a KRaft cluster (RF 3, min ISR 2 from 3
    nodes on), `secure` adds the SASL_SSL listeners with SCRAM users for every service and the
    StandardAuthorizer (their passwords and the CA are in the security directory).
    """
    cache = cache_dir or default_cache_dir()
    state = DetachedState.read(cache)
    if state is not None and state.alive():
        return state
    libs = ensure_distribution(version, cache)
    if brokers == 1 and not secure:
        broker = LocalKafka(
            libs=libs, work_dir=cache / "run" / f"kafka-{port}", port=port, tie_to_parent=False
        )
        broker.start()
        assert broker.process is not None
        state = DetachedState(
            pid=broker.process.pid, bootstrap=broker.bootstrap, work_dir=str(broker.work_dir)
        )
    else:
        from bridge.topics.acls import SERVICES

        work = cache / "run" / f"kafka-cluster-{port}"
        security = LocalSecurity.generate(work / "security", SERVICES) if secure else None
        cluster = LocalCluster(
            libs=libs, work_dir=work, brokers=brokers, security=security, tie_to_parent=False
        )
        cluster.nodes[0].port = port
        cluster.start()
        pids = tuple(node.process.pid for node in cluster.nodes if node.process is not None)
        state = DetachedState(
            pid=pids[0],
            bootstrap=cluster.bootstrap,
            work_dir=str(work),
            pids=pids,
            sasl_bootstrap=cluster.sasl_bootstrap,
            security_dir=str(security.directory) if security is not None else "",
        )
    state.write(cache)
    return state


def detached_down(cache_dir: Path | None = None) -> DetachedState | None:
    """Stop the detached local broker (every node of a cluster) if one runs; return what was stopped."""
    cache = cache_dir or default_cache_dir()
    state = DetachedState.read(cache)
    if state is None:
        return None
    for pid in state.all_pids():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for pid in state.all_pids():
        if _alive(pid):
            stop_process_group(pid)
    DetachedState.path(cache).unlink(missing_ok=True)
    return state
