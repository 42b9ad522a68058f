"""deploy/k8s: every manifest is a valid Kubernetes object and the objects fit together."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .conftest import K8S, K8S_FILES, REPO

Doc = tuple[Path, dict[str, Any]]
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}


def _by_kind(docs: list[Doc], kind: str) -> list[dict[str, Any]]:
    return [d for _, d in docs if d["kind"] == kind]


def _pod_specs(docs: list[Doc]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) pairs."""
    return [(d, d["spec"]["template"]) for _, d in docs if d["kind"] in WORKLOAD_KINDS]


def test_expected_objects_exist(k8s_docs: list[Doc]) -> None:
    have = {(d["kind"], d["metadata"]["name"]) for _, d in k8s_docs}
    assert {
        ("Namespace", "synthspace"),
        ("Deployment", "coordinator"), ("Service", "coordinator"),
        ("PersistentVolumeClaim", "coordinator-home"), ("ConfigMap", "synthspace-coordinator"),
        ("StatefulSet", "postgres"), ("Service", "postgres"),
        ("Deployment", "superlink"), ("Service", "superlink"),
        ("Deployment", "node-org-a"),
    } <= have


def test_every_object_has_api_version_kind_name_and_namespace(k8s_docs: list[Doc]) -> None:
    for path, doc in k8s_docs:
        assert doc.get("apiVersion") and doc.get("kind"), path.name
        assert doc["metadata"].get("name"), f"{path.name}: {doc['kind']} without a name"
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "synthspace", f"{path.name}: {doc['metadata']['name']}"
    names = [(d["kind"], d["metadata"]["name"]) for _, d in k8s_docs]
    assert len(names) == len(set(names)), "duplicate objects"


def test_selectors_match_pod_labels(k8s_docs: list[Doc]) -> None:
    for workload, template in _pod_specs(k8s_docs):
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = template["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{workload['metadata']['name']}: selector misses its pods"
        # Two workloads with overlapping selectors would fight over pods.
        others = [w for w, _ in _pod_specs(k8s_docs) if w is not workload]
        for other in others:
            assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()


def test_services_target_existing_container_ports(k8s_docs: list[Doc]) -> None:
    services = _by_kind(k8s_docs, "Service")
    assert services
    for svc in services:
        selector = svc["spec"]["selector"]
        targets = [t for _, t in _pod_specs(k8s_docs) if selector.items() <= t["metadata"]["labels"].items()]
        assert len(targets) == 1, f"service {svc['metadata']['name']} selects {len(targets)} workloads"
        containers = targets[0]["spec"]["containers"]
        port_names = {p["name"] for c in containers for p in c.get("ports", []) if "name" in p}
        port_numbers = {p["containerPort"] for c in containers for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                assert target in port_names, f"{svc['metadata']['name']}: no container port named {target}"
            else:
                assert target in port_numbers, f"{svc['metadata']['name']}: no container port {target}"


def test_statefulset_service_name_exists(k8s_docs: list[Doc]) -> None:
    services = {s["metadata"]["name"] for s in _by_kind(k8s_docs, "Service")}
    for sts in _by_kind(k8s_docs, "StatefulSet"):
        assert sts["spec"]["serviceName"] in services


def test_claims_config_maps_and_probes_resolve(k8s_docs: list[Doc]) -> None:
    pvcs = {d["metadata"]["name"] for d in _by_kind(k8s_docs, "PersistentVolumeClaim")}
    config_maps = {d["metadata"]["name"] for d in _by_kind(k8s_docs, "ConfigMap")}
    for workload, template in _pod_specs(k8s_docs):
        name = workload["metadata"]["name"]
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in pvcs, f"{name}: unknown PVC"
        templates = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        for c in spec["containers"] + spec.get("initContainers", []):
            for mount in c.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in templates, (
                    f"{name}/{c['name']} mounts undefined volume {mount['name']}"
                )
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
            named = {p["name"] for p in c.get("ports", []) if "name" in p}
            for probe in ("readinessProbe", "livenessProbe"):
                for kind in ("httpGet", "tcpSocket"):
                    port = c.get(probe, {}).get(kind, {}).get("port")
                    if isinstance(port, str):
                        assert port in named, f"{name}: {probe} uses unknown port {port}"
            assert c.get("securityContext", {}).get("allowPrivilegeEscalation") is False
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_referenced_secrets_are_documented(k8s_docs: list[Doc]) -> None:
    """Secrets are not committed; each one the manifests need is created in docs/deployment.md."""
    secrets: set[str] = set()
    for _, template in _pod_specs(k8s_docs):
        spec = template["spec"]
        for v in spec.get("volumes", []):
            if "secret" in v:
                secrets.add(v["secret"]["secretName"])
        for c in spec["containers"] + spec.get("initContainers", []):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secrets.add(ref["name"])
    assert {"synthspace-postgres", "synthspace-coordinator-db"} <= secrets
    guide = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    for name in secrets:
        assert f"create secret generic {name}" in guide or f"create secret tls {name}" in guide, (
            f"docs/deployment.md does not say how to create Secret {name}"
        )
    assert not [d for _, d in k8s_docs if d["kind"] == "Secret"], "no Secret objects in git"


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(p.name for p in K8S_FILES)


def test_kubernetes_validate_strict() -> None:
    exe = shutil.which("kubernetes-validate") or str(Path(sys.executable).with_name("kubernetes-validate"))
    assert Path(exe).exists(), "kubernetes-validate comes with the dev extra"
    res = subprocess.run(
        [exe, "--strict", "--no-warn", "-k", "1.33", *map(str, K8S_FILES)],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("passed") >= 10
