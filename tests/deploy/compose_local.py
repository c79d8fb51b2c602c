"""Run docker-compose.yml's services as local processes: the same commands, environment and health checks.

No Docker engine is needed: each service's `command` runs with the image's `ENV` (from the Dockerfile)
and the service's `environment`, in dependency order (`depends_on` conditions honoured), and each
service gets an address of its own on the loopback range, as it would get one on the compose network.
Host names are rewritten where they stand for an address: `kafka:9092` becomes the test's broker,
`http://ingress:8080` becomes `http://127.0.0.3:8080`, a value naming a service (e.g. `["ingress"]`) names
its address, and `0.0.0.0` in a service's own environment or `127.0.0.1` in its health check becomes its
address. So a broken `setup` chain, a refused hook URL or a health check that never passes fails a test.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from bridge.cli.dev.supervisor import Child

ROOT: Final = Path(__file__).resolve().parents[2]
COMPOSE_FILE: Final = ROOT / "docker-compose.yml"
DOCKERFILE: Final = ROOT / "Dockerfile"
#: Services replaced by the test's own: the broker.
EXTERNAL: Final = frozenset({"kafka"})
HEALTH_TIMEOUT_S: Final = 90.0
ONE_SHOT_TIMEOUT_S: Final = 120.0


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """Return the compose file with YAML anchors and `<<` merges resolved."""
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def image_environment(dockerfile: Path = DOCKERFILE) -> dict[str, str]:
    """Return the `ENV KEY=VALUE ...` settings of the Dockerfile's final stage."""
    env: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        if line.startswith("FROM "):
            env = {}
        elif line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def default_services(compose: Mapping[str, Any]) -> list[str]:
    """Return the services `docker compose up` starts: those without a profile."""
    return [name for name, spec in compose["services"].items() if not spec.get("profiles")]


@dataclass
class LocalService:
    """One compose service planned as a local process."""

    name: str
    address: str
    argv: list[str]
    env: dict[str, str]
    healthcheck: list[str] | None
    depends_on: dict[str, str]
    one_shot: bool


@dataclass
class ComposeAsProcesses:
    """Plan and run the default services of a compose file on loopback, around an existing broker."""

    compose: dict[str, Any]
    bootstrap: str
    work_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [n for n in default_services(self.compose) if n not in EXTERNAL]
        self.addresses = {name: f"127.0.0.{i}" for i, name in enumerate(names, start=2)}
        self.planned: dict[str, LocalService] = {}

    # --- planning -------------------------------------------------------------------------------
    def plan(self) -> list[LocalService]:
        """Return the services in an order that starts every dependency first."""
        services = self.compose["services"]
        planned: dict[str, LocalService] = {}
        for name, address in self.addresses.items():
            spec = services[name]
            env = {k: self._value(str(v), address) for k, v in (spec.get("environment") or {}).items()}
            command = spec["command"]
            words = command if isinstance(command, list) else shlex.split(command)
            argv = [self._hosts(str(word)) for word in words]
            health = spec.get("healthcheck", {}).get("test")
            deps = spec.get("depends_on") or {}
            if isinstance(deps, list):
                deps = {d: {"condition": "service_started"} for d in deps}
            planned[name] = LocalService(
                name=name,
                address=address,
                argv=argv,
                env=env,
                healthcheck=self._healthcheck(health, address) if health else None,
                depends_on={d: c.get("condition", "service_started") for d, c in deps.items()},
                one_shot=spec.get("restart") == "no",
            )
        return list(_dependency_order(planned))

    def _value(self, value: str, own_address: str) -> str:
        value = self._hosts(value)
        return own_address if value == "0.0.0.0" else value  # noqa: S104 - compose's "every interface"

    def _hosts(self, text: str) -> str:
        text = text.replace("kafka:9092", self.bootstrap)
        for name, address in self.addresses.items():
            # A host in a URL or host:port, or a value that is only the name (e.g. inside a JSON list).
            text = re.sub(rf"(?<=//){re.escape(name)}(?=[:/])", address, text)
            text = re.sub(rf"(?<![\w./-]){re.escape(name)}(?=:\d)", address, text)
            text = re.sub(rf'(?<=["\']){re.escape(name)}(?=["\'])', address, text)
        return text

    def _healthcheck(self, test: list[str] | str, address: str) -> list[str]:
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        kind, *rest = test
        rest = [self._hosts(r).replace("127.0.0.1", address) for r in rest]
        if kind == "CMD-SHELL":
            return ["sh", "-c", rest[0]]
        if rest and rest[0] == "python":
            rest[0] = sys.executable
        return rest

    # --- running --------------------------------------------------------------------------------
    @functools.cached_property
    def base_env(self) -> dict[str, str]:
        """The image's environment over ours, without any bridge or Kafka variable of the caller's."""
        ours = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "KAFKA_", "VTEX_BRIDGE_"))}
        ours["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{ours.get('PATH', '')}"
        return {**ours, **image_environment(), **self.extra_env}

    def up(self) -> None:
        """Start every default service as `docker compose up` would; raise naming the one that fails."""
        for service in self.plan():
            for dependency, condition in service.depends_on.items():
                if dependency in EXTERNAL:
                    continue
                self._wait_for(dependency, condition)
            child = Child(
                name=service.name,
                argv=service.argv,
                env={**self.base_env, **service.env},
                log_path=self.work_dir / "logs" / f"{service.name}.log",
                cwd=self.work_dir / service.name,
            )
            child.start()
            self.children[service.name] = child
            self.planned[service.name] = service

    def _wait_for(self, name: str, condition: str) -> None:
        if condition == "service_healthy":
            self.wait_healthy(name)
        elif condition == "service_completed_successfully":
            self.wait_completed(name)

    def healthy(self, name: str) -> bool:
        service = self.planned[name]
        if service.healthcheck is None or not self.children[name].running:
            return False
        probe = subprocess.run(  # noqa: S603 - the compose file's own health check
            service.healthcheck, env=self.base_env, capture_output=True, timeout=15, check=False
        )
        return probe.returncode == 0

    def wait_healthy(self, name: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy(name):
            if not self.children[name].running:
                raise AssertionError(f"{name} exited with {self.children[name].exit_code}: {self.tail(name)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not healthy within {timeout:.0f} s: {self.tail(name)}")
            time.sleep(0.5)

    def wait_completed(self, name: str, timeout: float = ONE_SHOT_TIMEOUT_S) -> None:
        child = self.children[name]
        assert child.process is not None
        try:
            code = child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} did not finish within {timeout:.0f} s: {self.tail(name)}") from None
        if code != 0:
            raise AssertionError(f"{name} exited with {code}: {self.tail(name)}")

    def tail(self, name: str, lines: int = 15) -> str:
        return "\n".join(self.children[name].log_tail(lines))

    def down(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()


def _dependency_order(services: Mapping[str, LocalService]) -> Iterator[LocalService]:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> Iterator[LocalService]:
        if name in done or name in EXTERNAL:
            return
        if name in path:
            raise ValueError(f"dependency cycle: {' -> '.join((*path, name))}")
        for dependency in services[name].depends_on:
            yield from visit(dependency, (*path, name))
        done.add(name)
        yield services[name]

    for name in services:
        yield from visit(name, ())
