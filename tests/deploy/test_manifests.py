"""Deployment files agree with Kubernetes' schemas, with the services' routes and with their metrics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from bridge.feed_poller.metrics import PollerMetrics
from bridge.ingress.metrics import IngressMetrics
from bridge.settings import load_settings
from processors.metrics import ProcessorMetrics
from tests.deploy.kustomize import K8S, render

ROOT = Path(__file__).resolve().parents[2]
#: The paths each service's probes may use (the routes its app factory registers).
PROBE_PATHS = {
    "vtex-bridge-ingress": {"/healthz", "/readyz"},
    "vtex-bridge-worker": {"/health", "/ready", "/healthz", "/readyz"},
    "vtex-bridge-feed-poller": {"/healthz", "/livez"},
}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    """The production overlay as `kubectl apply -k` renders it, plus the Secret's example."""
    docs = [(f"{d['kind']}/{d['metadata']['name']}", d) for d in render(K8S / "overlays" / "production")]
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    return [*docs, ("secret.example.yaml", example)]


def _metric_names(registry: CollectorRegistry) -> set[str]:
    """Return the series names a registry exports, labelled families with no child yet included."""
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


class TestKubernetesManifests:
    """The rendered manifests are wired to real routes, ports and settings (schemas: test_kustomize.py)."""

    def test_probes_use_real_routes(self) -> None:
        for _, doc in _documents():
            if doc["kind"] not in ("Deployment", "StatefulSet"):
                continue
            container = doc["spec"]["template"]["spec"]["containers"][0]
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in container:
                    assert container[probe]["httpGet"]["path"] in PROBE_PATHS[doc["metadata"]["name"]]

    def test_worker_replicas_do_not_exceed_partitions(self) -> None:
        config = next(d for _, d in _documents() if d["kind"] == "ConfigMap")["data"]
        worker = next(d for _, d in _documents() if d["kind"] == "StatefulSet")
        assert worker["spec"]["replicas"] <= int(config["VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS"])

    def test_configmap_names_real_settings(self) -> None:
        fields = set(load_settings().model_dump())
        config = next(d for _, d in _documents() if d["kind"] == "ConfigMap")["data"]
        secret = next(d for _, d in _documents() if d["kind"] == "Secret")["stringData"]
        for key in [*config, *secret]:
            name = key.removeprefix("VTEX_BRIDGE_").lower()
            aliases = {"kafka_bootstrap_servers", "vtex_account", "vtex_app_key", "vtex_app_token"}
            assert name in fields or name in aliases, f"{key} is not a setting"

    def test_ports_match_settings_defaults(self) -> None:
        settings = load_settings()
        ports = {
            "vtex-bridge-ingress": settings.ingress_port,
            "vtex-bridge-worker": settings.worker_web_port,
            "vtex-bridge-feed-poller": settings.feed_poll_http_port,
        }
        for _, doc in _documents():
            if doc["kind"] in ("Deployment", "StatefulSet"):
                port = doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
                assert ports[doc["metadata"]["name"]] == port


#: Series of Prometheus itself (up) and kube-state-metrics (kube_*), for alerts on no bridge metric.
EXTERNAL_SERIES = re.compile(r"\b(up|kube_[a-z_]+)\{")
SERVICE_REGISTRIES = {
    "ingress": lambda: IngressMetrics().registry,
    "worker": lambda: ProcessorMetrics(rate_limit_per_s=10).registry,
    "feed-poller": lambda: PollerMetrics().registry,
}


def _alert_expressions() -> str:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    return "\n".join(r["expr"] for group in rules["groups"] for r in group["rules"])


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


class TestWorkerNetworkPolicy:
    """A NetworkPolicy admits the console port only from the workers and the console's proxy, and the
    metrics port only from the bridge's pods and Prometheus; the console has its own container port."""

    def _policy(self) -> dict[str, Any]:
        policies = [d for _, d in _documents() if d["kind"] == "NetworkPolicy"]
        selected = [
            p
            for p in policies
            if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": "vtex-bridge-worker"}
        ]
        assert 1 == len(selected), "one NetworkPolicy selects the worker pods"
        return selected[0]

    def test_policy_admits_only_named_peers(self) -> None:
        settings = load_settings()
        policy = self._policy()["spec"]
        assert "Ingress" in policy["policyTypes"]
        by_port: dict[int, list[dict[str, Any]]] = {}
        for rule in policy["ingress"]:
            assert rule.get("from"), "a rule without `from` admits every peer"
            assert rule.get("ports"), "a rule without `ports` admits every port"
            for port in rule["ports"]:
                by_port.setdefault(int(port["port"]), []).extend(rule["from"])
        assert {settings.console_port, settings.worker_web_port} == set(by_port)
        console_peers = by_port[settings.console_port]
        assert all(set(peer) == {"podSelector"} for peer in console_peers), "no namespace-wide console access"
        names = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in console_peers}
        assert {"vtex-bridge-worker", "vtex-bridge-console-proxy"} == names

    def test_console_port_and_service(self) -> None:
        settings = load_settings()
        docs = [d for _, d in _documents()]
        worker = next(d for d in docs if d["kind"] == "StatefulSet")
        container = worker["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert settings.console_port == ports["console"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["VTEX_BRIDGE_WORKER_ADVERTISED_URL"].endswith(f":{settings.console_port}")
        service = next(
            d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "vtex-bridge-console"
        )
        assert ["console"] == [p["targetPort"] for p in service["spec"]["ports"]]


class TestAlertRules:
    """Every alert queries metrics the services really export and links a runbook."""

    def test_alerts_reference_exported_metrics(self) -> None:
        exported = (
            _metric_names(IngressMetrics().registry)
            | _metric_names(ProcessorMetrics(rate_limit_per_s=10).registry)
            | _metric_names(PollerMetrics().registry)
        )
        rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
        alerts = [r for group in rules["groups"] for r in group["rules"]]
        assert len(alerts) >= 8
        for alert in alerts:
            names = set(re.findall(r"\b((?:vtex_)?bridge_[a-z_]+)\b", alert["expr"]))
            assert names or EXTERNAL_SERIES.search(alert["expr"]), alert["alert"]
            assert names <= exported, f"{alert['alert']}: {names - exported} are not exported"
            assert alert["annotations"]["runbook"].startswith("docs/operations.md#")

    @pytest.mark.parametrize("service", sorted(SERVICE_REGISTRIES))
    def test_a_gone_service_fires_an_absent_alert(self, service: str) -> None:
        """Each service has an absent() alert on a series it exports from its start, before any event,
        so "every pod of it gone" (no series at all) is told apart from "idle" (series at zero)."""
        at_start = {
            sample.name
            for family in SERVICE_REGISTRIES[service]().collect()
            for sample in family.samples
            if not sample.labels
        }
        absent = set(re.findall(r"absent\(((?:vtex_)?bridge_[a-z_]+)\)", _alert_expressions()))
        assert absent & at_start, f"no absent() alert on a series {service} always exports"

    def test_every_runbook_section_exists(self) -> None:
        operations = (ROOT / "docs" / "operations.md").read_text()
        anchors = {_anchor(line) for line in operations.splitlines() if line.startswith("#")}
        rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
        runbooks = {r["annotations"]["runbook"].split("#")[1] for g in rules["groups"] for r in g["rules"]}
        assert set() == runbooks - anchors


#: Each service's own bound on its graceful stop: its supervisor's grace period must be longer, or the
#: supervisor's SIGKILL cuts the stop short (no stacks, no clean leave of the consumer group).
STOP_BOUNDS = {"ingress": "ingress_shutdown_timeout_s", "worker": "worker_stop_timeout_s"}


def _stop_bound(service: str, overrides: dict[str, str]) -> float:
    """The service's stop bound in seconds: the settings' default unless `overrides` (env) set it."""
    field = STOP_BOUNDS[service]
    return float(overrides.get(f"VTEX_BRIDGE_{field.upper()}", getattr(load_settings(), field)))


def _seconds(duration: str | int) -> float:
    """A compose duration ("1m30s", "45s", "500ms") or a number of seconds."""
    if isinstance(duration, int):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


class TestGracePeriods:
    """Kubernetes and compose give every service longer to stop than the service gives itself."""

    @pytest.mark.parametrize("service", sorted(STOP_BOUNDS))
    def test_kubernetes(self, service: str) -> None:
        docs = [doc for _, doc in _documents()]
        overrides = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
        workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
        workload = next(d for d in workloads if d["metadata"]["name"] == f"vtex-bridge-{service}")
        grace = workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > _stop_bound(service, overrides)

    @pytest.mark.parametrize("service", sorted(STOP_BOUNDS))
    def test_compose(self, service: str) -> None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][service]
        environment = {k: str(v) for k, v in compose.get("environment", {}).items()}
        assert _seconds(compose.get("stop_grace_period", "10s")) > _stop_bound(service, environment)

    def test_durations(self) -> None:
        assert 90.0 == _seconds("1m30s")
        assert 0.5 == _seconds("500ms")
        assert 60.0 == _seconds(60)


class TestCompose:
    """docker-compose.yml runs the same Kafka version as the local broker and real commands/settings.

    No Docker engine runs on our machines, so `docker compose config` cannot be the check; these are
    the schema-level checks that catch what usually goes stale.
    """

    def _compose(self) -> dict[str, Any]:
        return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]

    def test_console_port_only_on_loopback(self) -> None:
        """The console serves customer orders: compose publishes its port on the host's loopback only."""
        worker = self._compose()["services"]["worker"]
        console = [p for p in worker["ports"] if str(p).endswith(f":{load_settings().console_port}")]
        assert console, "the console port is published"
        assert all(str(p).startswith("127.0.0.1:") for p in worker["ports"])

    def test_kafka_image_matches_local_broker(self) -> None:
        image = self._compose()["services"]["kafka"]["image"]
        assert f"apache/kafka:{load_settings().kafka_local_version}" == image

    def test_commands_and_settings_exist(self) -> None:
        from bridge.cli import build_parser

        commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr,arg-type]
        fields = set(load_settings().model_dump())
        for name, service in self._compose()["services"].items():
            if name == "kafka" or "profiles" in service:
                continue
            command = service["command"]
            if command[0] == "sh":  # a one-shot script of vtex-bridge commands
                for step in command[2].split("&&"):
                    assert step.split()[1] in commands, step
            else:
                assert "vtex-bridge" == command[0]
                assert command[1] in commands
            for key in service.get("environment", {}):
                setting = key.removeprefix("VTEX_BRIDGE_").lower()
                assert setting in fields or key == "KAFKA_BOOTSTRAP_SERVERS", key


class TestObservabilityProfile:
    """Prometheus scrapes every service of the stack and the dashboard only queries exported metrics."""

    def test_dashboard_queries_exported_metrics(self) -> None:
        exported = (
            _metric_names(IngressMetrics().registry)
            | _metric_names(ProcessorMetrics(rate_limit_per_s=10).registry)
            | _metric_names(PollerMetrics().registry)
        )
        dashboard = yaml.safe_load(
            (ROOT / "deploy" / "grafana" / "dashboards" / "vtex-kafka-bridge.json").read_text()
        )
        assert dashboard["panels"]
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                names = set(re.findall(r"\b((?:vtex_)?bridge_[a-z_]+?)(?:_bucket)?\b", target["expr"]))
                names = {n.removesuffix("_bucket") for n in names}
                assert names, panel["title"]
                assert names <= exported, f"{panel['title']}: {names - exported}"

    def test_prometheus_scrapes_the_compose_services(self) -> None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
        config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
        for job in config["scrape_configs"]:
            for target in job["static_configs"][0]["targets"]:
                host, port = target.split(":")
                assert host in compose, target
                assert any(p.endswith(f":{port}") for p in compose[host]["ports"]), target
