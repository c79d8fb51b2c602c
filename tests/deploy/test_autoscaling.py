"""The worker's autoscaler examples target the real StatefulSet, read real metrics, stop at the partitions.

KEDA's ScaledObject is a custom resource, absent from Kubernetes' schemas: it is checked against the
subset of KEDA's CRD (keda.sh/v1alpha1, config/crd/bases/keda.sh_scaledobjects.yaml) it uses, with
unknown fields refused so that a typo cannot pass, and the Kafka trigger's metadata against the
parameters KEDA's Kafka scaler documents (all strings, as the CRD requires).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bridge.settings import load_settings
from processors.metrics import ProcessorMetrics

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"

_POLICY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "value", "periodSeconds"],
    "properties": {
        "type": {"enum": ["Pods", "Percent"]},
        "value": {"type": "integer", "minimum": 1},
        "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800},
    },
}
_RULES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "policies": {"type": "array", "minItems": 1, "items": _POLICY},
    },
}
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "behavior": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {"scaleUp": _RULES, "scaleDown": _RULES},
                                },
                            },
                        },
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                            "authenticationRef": {"type": "object", "required": ["name"]},
                        },
                    },
                },
            },
        },
    },
}
#: Parameters of KEDA's Kafka scaler (https://keda.sh/docs/latest/scalers/apache-kafka/).
KAFKA_SCALER_PARAMETERS = {
    "bootstrapServers",
    "consumerGroup",
    "topic",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "partitionLimitation",
    "version",
    "sasl",
    "tls",
    "unsafeSsl",
}


def _path(name: str) -> Path:
    """The manifest `name` wherever it lives under deploy/k8s (base, components)."""
    (path,) = K8S.rglob(name)
    return path


def _load(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(_path(name).read_text()) if d]
    assert 1 == len(docs)
    return docs[0]  # type: ignore[no-any-return]


def _configmap() -> dict[str, str]:
    return _load("configmap.yaml")["data"]  # type: ignore[no-any-return]


def _worker() -> dict[str, Any]:
    return next(d for d in yaml.safe_load_all(_path("worker.yaml").read_text()) if d["kind"] == "StatefulSet")


def _partitions() -> int:
    return int(_configmap()["VTEX_BRIDGE_INPUT_TOPIC_PARTITIONS"])


class TestKedaScaledObject:
    """The KEDA example scales the worker StatefulSet on its group's lag, up to the input partitions."""

    def test_fields_match_kedas_schema(self) -> None:
        jsonschema.validate(_load("worker-keda-scaledobject.yaml"), SCALED_OBJECT_SCHEMA)

    def test_targets_the_worker(self) -> None:
        target = _load("worker-keda-scaledobject.yaml")["spec"]["scaleTargetRef"]
        worker = _worker()
        assert {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": worker["metadata"]["name"]} == target

    def test_capped_at_the_input_partitions(self) -> None:
        spec = _load("worker-keda-scaledobject.yaml")["spec"]
        assert _partitions() == spec["maxReplicaCount"]
        assert load_settings().input_topic_partitions == spec["maxReplicaCount"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]

    def test_kafka_trigger_reads_the_worker_group(self) -> None:
        (trigger,) = _load("worker-keda-scaledobject.yaml")["spec"]["triggers"]
        metadata = trigger["metadata"]
        config = _configmap()
        assert "kafka" == trigger["type"]
        assert set(metadata) <= KAFKA_SCALER_PARAMETERS
        assert config["KAFKA_BOOTSTRAP_SERVERS"] == metadata["bootstrapServers"]
        assert config["VTEX_BRIDGE_INPUT_TOPIC"] == metadata["topic"]
        app_id = config.get("VTEX_BRIDGE_WORKER_APP_ID", load_settings().worker_app_id)
        assert app_id == metadata["consumerGroup"]  # Faust's group id is the app id
        assert "earliest" == metadata["offsetResetPolicy"]
        assert int(metadata["lagThreshold"]) > 0


class TestLagHpa:
    """The HPA alternative scales the same StatefulSet on metrics the worker exports."""

    def test_targets_the_worker_up_to_the_partitions(self) -> None:
        hpa = _load("worker-hpa-lag.yaml")
        assert "HorizontalPodAutoscaler" == hpa["kind"]
        target = hpa["spec"]["scaleTargetRef"]
        assert ("StatefulSet", _worker()["metadata"]["name"]) == (target["kind"], target["name"])
        assert _partitions() == hpa["spec"]["maxReplicas"]

    def test_metrics_are_exported_by_the_worker(self) -> None:
        exported = {family.name for family in ProcessorMetrics(rate_limit_per_s=10).registry.collect()}
        names = {m["pods"]["metric"]["name"] for m in _load("worker-hpa-lag.yaml")["spec"]["metrics"]}
        assert {"vtex_bridge_processor_work_lag", "vtex_bridge_processor_active_lanes"} == names
        assert names <= exported
        assert {
            "vtex_bridge_processor_consumer_lag",
            "vtex_bridge_processor_partition_lag",
            "vtex_bridge_processor_in_flight_orders_limit",
        } <= exported


class TestProductionTopicSettings:
    """The deployment's configmap declares production durability: 3 replicas, min ISR 2."""

    def test_replication_and_min_isr(self) -> None:
        config = _configmap()
        assert "3" == config["VTEX_BRIDGE_WORKER_TOPIC_REPLICATION"]
        assert "2" == config["VTEX_BRIDGE_TOPICS_MIN_INSYNC_REPLICAS"]
