"""The detached broker (or cluster) of `vtex-bridge kafka up|down|status`, found again by a state file.

`kafka up` starts it outside any test session (not tied to its parent) and records every node's pid,
address and security directory in `<cache>/run/kafka.json`; `kafka status` and `kafka down` read that
file, so a second `up` finds the running one instead of starting another.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from bridge.local_kafka.cluster import LocalCluster
from bridge.local_kafka.distribution import default_cache_dir, ensure_distribution
from bridge.local_kafka.errors import LocalKafkaError
from bridge.local_kafka.node import LocalKafka
from bridge.local_kafka.processes import process_alive, stop_process_group
from bridge.local_kafka.security import LocalSecurity


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
        return any(process_alive(pid) for pid in self.all_pids())

    def describe(self) -> str:
        """How it runs, in a few words: where, how many nodes, secured or not."""
        nodes = len(self.all_pids())
        kind = f"{nodes} broker{'s' if nodes > 1 else ''}"
        return f"{self.bootstrap} ({kind}, {'SASL_SSL as well' if self.sasl_bootstrap else 'plaintext only'})"

    def differs(self, port: int, brokers: int, secure: bool) -> bool:
        """Whether a request for `port`/`brokers`/`secure` asks for something else than this one."""
        return (
            not self.bootstrap.endswith(f":{port}")
            or len(self.all_pids()) != brokers
            or bool(self.sasl_bootstrap) != secure
        )


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
        if state.differs(port, brokers, secure):  # never hand back something else than asked for
            raise LocalKafkaError(
                f"a local Kafka is already running: {state.describe()}; "
                "stop it with `vtex-bridge kafka down` to start another one"
            )
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
        if process_alive(pid):
            stop_process_group(pid)
    DetachedState.path(cache).unlink(missing_ok=True)
    return state
