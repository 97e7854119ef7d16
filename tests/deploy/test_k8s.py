"""deploy/kubernetes/: the manifests parse, satisfy the "restricted" Pod
Security Standard field by field, and the kustomization lists them all."""

import os
import shutil
import subprocess

import pytest
import yaml

import deploylib as d


def _key(doc):
    return (doc["kind"], doc["metadata"]["name"])


def test_manifests_parse(k8s):
    kinds = sorted(doc["kind"] for doc in k8s)
    assert kinds == sorted(["Namespace", "ServiceAccount", "Deployment",
                            "Service", "PodDisruptionBudget",
                            "NetworkPolicy"])
    for doc in k8s:
        assert doc["apiVersion"] and doc["metadata"]["name"], doc["__file__"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "ses-smtp-proxy"


def test_multi_document_files_are_read():
    docs = list(yaml.load_all("a: 1\n---\nb: 2\n", Loader=yaml.SafeLoader))
    assert docs == [{"a": 1}, {"b": 2}]


def test_restricted_profile(k8s):
    assert d.check_k8s_restricted(k8s) == []


def test_network_policy(k8s):
    assert d.check_k8s_netpol(k8s) == []


def test_kustomization_lists_every_manifest():
    kus = d.load_kustomization()
    files = sorted(p.name for p in d.K8S_DIR.glob("*.yaml")
                   if p.name != "kustomization.yaml")
    assert sorted(kus["resources"]) == files
    assert kus["namespace"] == "ses-smtp-proxy"
    assert [i["name"] for i in kus["images"]] == ["ses-smtp-proxy"]
    dep = next(x for x in d.load_k8s() if x["kind"] == "Deployment")
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.split(":")[0] == "ses-smtp-proxy"


def test_kubectl_kustomize_renders_the_same_objects(k8s):
    """kubectl kustomize works offline (no cluster, no network)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (optional)")
    env = dict(os.environ, KUBECONFIG=os.devnull)
    out = subprocess.run([kubectl, "kustomize", str(d.K8S_DIR)], env=env,
                         capture_output=True, text=True, timeout=60,
                         check=True)
    rendered = [x for x in yaml.safe_load_all(out.stdout) if x]
    assert sorted(map(_key, rendered)) == sorted(map(_key, k8s))
    dep = next(x for x in rendered if x["kind"] == "Deployment")
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    version = (d.REPO / "VERSION").read_text(encoding="utf-8").strip()
    assert image.endswith(f"/ses-smtp-proxy:{version}")
