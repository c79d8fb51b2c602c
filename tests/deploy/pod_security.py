"""The `restricted` Pod Security Standard as a pure check of a rendered object's pod spec.

Written from https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline and
restricted rules, policy version "latest"), so a test fails with the rule's name before an admission
controller would reject the pod. Plus one rule of ours: every container of ours has a read-only root
filesystem (the image needs no writes outside its volumes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

ALLOWED_VOLUME_TYPES: Final = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected"}
    | {"secret"}
)
SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SECCOMP_OK: Final = frozenset({"RuntimeDefault", "Localhost"})


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Return the pod spec an object creates (Pod, workloads, Job, CronJob), None for other kinds."""
    kind, spec = obj["kind"], obj.get("spec", {})
    if kind == "Pod":
        return spec  # type: ignore[no-any-return]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec["template"]["spec"]  # type: ignore[no-any-return]
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return None


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key, [])


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """Return every `restricted` rule the pod spec breaks (empty: admitted)."""
    found: list[str] = []
    pod_sc = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            found.append(f"host namespaces: {flag}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            found.append(f"volume types: {volume['name']} uses {sorted(kinds - ALLOWED_VOLUME_TYPES)}")
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"sysctls: {sysctl['name']}")
    if pod_sc.get("runAsUser") == 0:
        found.append("running as non-root user: pod runAsUser 0")
    for container in _containers(spec):
        name = container["name"]
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            found.append(f"privileged: {name}")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"privilege escalation: {name} must set allowPrivilegeEscalation: false")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            found.append(f"running as non-root: {name} (runAsNonRoot: true on the pod or the container)")
        if sc.get("runAsUser") == 0:
            found.append(f"running as non-root user: {name} runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in SECCOMP_OK:
            found.append(f"seccomp: {name} needs seccompProfile RuntimeDefault or Localhost (has {seccomp})")
        capabilities = sc.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"capabilities: {name} must drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"capabilities: {name} adds {capabilities['add']}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"host ports: {name}")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"/proc mount type: {name}")
    return found


def writable_root_filesystems(spec: Mapping[str, Any], our_image: str) -> list[str]:
    """Return the containers running `our_image` that lack `readOnlyRootFilesystem: true`."""
    return [
        c["name"]
        for c in _containers(spec)
        if c["image"].split("@")[0].rsplit(":", 1)[0].endswith(our_image)
        and c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True
    ]
