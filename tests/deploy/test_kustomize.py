"""`kubectl apply -k deploy/k8s/overlays/<overlay>` applies: every overlay renders, validates against
Kubernetes' schemas, passes the `restricted` Pod Security Standard and keeps the deployment's promises."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.kustomize import K8S, overlays, render
from tests.deploy.pod_security import pod_spec, restricted_violations, writable_root_filesystems

KUBERNETES_VERSION = "1.30"
OUR_IMAGE = "vtex-kafka-bridge"
CUSTOM_RESOURCE_GROUPS = ("keda.sh/",)


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(K8S / "overlays" / overlay))


def _named(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _autoscalers(docs: tuple[dict[str, Any], ...]) -> list[tuple[str, str]]:
    found = []
    for doc in docs:
        target = doc.get("spec", {}).get("scaleTargetRef", {}).get("name")
        if doc["kind"] in ("HorizontalPodAutoscaler", "ScaledObject") and target == "vtex-bridge-worker":
            found.append((doc["kind"], target))
    return found


def test_the_overlays_exist() -> None:
    assert {"dev", "production"} <= set(overlays())


@pytest.mark.parametrize("overlay", overlays())
class TestEveryOverlay:
    """What holds for each overlay."""

    def test_valid_against_kubernetes_schemas(self, overlay: str) -> None:
        for doc in rendered(overlay):
            if not doc["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

    def test_every_pod_passes_pod_security_restricted(self, overlay: str) -> None:
        violations = {
            _named(doc): restricted_violations(spec)
            for doc in rendered(overlay)
            if (spec := pod_spec(doc)) is not None
        }
        assert violations, "no workload rendered"
        assert {} == {name: found for name, found in violations.items() if found}

    def test_the_namespace_enforces_restricted(self, overlay: str) -> None:
        (namespace,) = [d for d in rendered(overlay) if d["kind"] == "Namespace"]
        assert "restricted" == namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        names = {d["metadata"].get("namespace") for d in rendered(overlay) if d["kind"] != "Namespace"}
        assert {namespace["metadata"]["name"]} == names

    def test_our_containers_have_read_only_root_filesystems(self, overlay: str) -> None:
        writable = {
            _named(doc): found
            for doc in rendered(overlay)
            if (spec := pod_spec(doc)) is not None and (found := writable_root_filesystems(spec, OUR_IMAGE))
        }
        assert {} == writable

    def test_the_image_is_set_once_by_the_overlay(self, overlay: str) -> None:
        images = {
            c["image"]
            for doc in rendered(overlay)
            if (spec := pod_spec(doc)) is not None
            for c in spec["containers"]
            if OUR_IMAGE in c["image"]
        }
        (image,) = images
        kustomization = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
        (setting,) = [i for i in kustomization["images"] if i["name"] == OUR_IMAGE]
        assert image == f"{setting.get('newName', OUR_IMAGE)}:{setting['newTag']}"

    def test_at_most_one_worker_autoscaler(self, overlay: str) -> None:
        assert len(_autoscalers(rendered(overlay))) <= 1

    def test_disruption_budgets_never_block_a_drain(self, overlay: str) -> None:
        budgets = [d for d in rendered(overlay) if d["kind"] == "PodDisruptionBudget"]
        assert budgets
        assert {"AlwaysAllow"} == {b["spec"].get("unhealthyPodEvictionPolicy") for b in budgets}

    def test_network_policies_deny_by_default(self, overlay: str) -> None:
        policies = [d for d in rendered(overlay) if d["kind"] == "NetworkPolicy"]
        deny_all = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
        assert deny_all, "a default-deny NetworkPolicy"
        selected = [p["spec"]["podSelector"].get("matchLabels", {}) for p in policies]
        covered = {labels.get("app.kubernetes.io/name") for labels in selected}
        assert {"vtex-bridge-ingress", "vtex-bridge-worker"} <= covered

    def test_the_ingress_stays_ready_while_kafka_is_down(self, overlay: str) -> None:
        """Readiness is "serving HTTP" (/healthz): an ingress that left the Service could not answer 503."""
        (ingress,) = [d for d in rendered(overlay) if _named(d) == "Deployment/vtex-bridge-ingress"]
        container = ingress["spec"]["template"]["spec"]["containers"][0]
        assert "/healthz" == container["readinessProbe"]["httpGet"]["path"]

    def test_the_feed_poller_is_not_restarted_for_an_outage(self, overlay: str) -> None:
        """Its liveness is /livez (serving), not /healthz (Kafka connected, feed read recently)."""
        (poller,) = [d for d in rendered(overlay) if _named(d) == "Deployment/vtex-bridge-feed-poller"]
        container = poller["spec"]["template"]["spec"]["containers"][0]
        assert "/livez" == container["livenessProbe"]["httpGet"]["path"]


class TestProduction:
    """The production overlay: no secret with placeholder values, the Prometheus-adapter HPA by default."""

    def test_no_secret_is_applied(self) -> None:
        assert [] == [_named(d) for d in rendered("production") if d["kind"] == "Secret"]

    def test_the_secret_example_is_outside_every_kustomization(self) -> None:
        listed: set[Path] = set()
        for kustomization in K8S.rglob("kustomization.yaml"):
            spec = yaml.safe_load(kustomization.read_text())
            listed |= {(kustomization.parent / r).resolve() for r in spec.get("resources", [])}
        assert (K8S / "secret.example.yaml").resolve() not in listed
        assert (K8S / "secret.example.yaml").exists()

    def test_one_worker_autoscaler(self) -> None:
        assert 1 == len(_autoscalers(rendered("production")))

    def test_keda_is_the_alternative_component(self, tmp_path: Path) -> None:
        variant = tmp_path / "keda"
        variant.mkdir()
        base, keda = (os.path.relpath(K8S / part, variant) for part in ("base", "components/keda"))
        (variant / "kustomization.yaml").write_text(
            f"namespace: vtex-bridge\nresources: [{base}]\ncomponents: [{keda}]\n"
            "images: [{name: vtex-kafka-bridge, newName: r.example/vtex-kafka-bridge, newTag: '1'}]\n"
        )
        docs = render(variant)
        assert [("ScaledObject", "vtex-bridge-worker")] == _autoscalers(tuple(docs))


def test_the_accounts_file_component_reaches_every_vtex_facing_service(tmp_path: Path) -> None:
    """The production overlay with `components/accounts-file` (as docs/accounts.md says to add it): the
    ingress, worker, feed poller and the hourly hook check read the accounts file from its Secret, and
    the result still validates and passes the restricted Pod Security Standard."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlays" / "production"
    kustomization = (overlay / "kustomization.yaml").read_text()
    enabled = kustomization.replace(
        "  # - ../../components/accounts-file", "  - ../../components/accounts-file"
    )
    assert enabled != kustomization, "the production overlay names the component (commented out)"
    (overlay / "kustomization.yaml").write_text(enabled)
    docs = render(overlay)
    mounted = {}
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None or doc["kind"] == "Job":
            continue
        assert [] == restricted_violations(spec)
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        container = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounted[_named(doc)] = (
            env.get("VTEX_BRIDGE_ACCOUNTS_FILE") == "/etc/vtex-bridge/accounts/accounts.json"
            and mounts.get("accounts", {}).get("readOnly") is True
            and volumes.get("accounts", {}).get("secret", {}).get("secretName") == "vtex-bridge-accounts"
        )
    assert {
        "Deployment/vtex-bridge-ingress": True,
        "StatefulSet/vtex-bridge-worker": True,
        "Deployment/vtex-bridge-feed-poller": True,
        "CronJob/vtex-bridge-hook-ensure": True,
    } == mounted
