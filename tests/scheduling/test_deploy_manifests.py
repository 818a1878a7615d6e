"""deploy/kubernetes/: every file parses; the RBAC role grants exactly what the executor and the
watcher call (read from the executors/kubernetes/ package itself, so a new API call needs a new rule); every
Deployment runs a Procfile process, and every Procfile process but the embedded Redis has one."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
EXECUTOR = ROOT / "scheduling" / "executors" / "kubernetes"

# (api group, resource) -> verbs: what Trellis needs, and all that it gets.
NEEDED = {
    ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
    ("", "pods"): {"get", "list", "watch", "delete"},
    ("", "pods/log"): {"get", "list", "watch"},
    ("", "persistentvolumeclaims"): {"create", "get", "list", "watch", "delete"},
    ("", "nodes"): {"get", "list", "watch"},
}
# The client's method names: <verb>_[namespaced_]<kind>[_for_all_namespaces]
_CALL = re.compile(r"\.(create|read|list|delete|patch|replace)_(?:namespaced_)?([a-z_]+?)(?:_for_all_namespaces)?\(")
_KINDS = {"job": ("batch", "jobs"), "pod": ("", "pods"), "pod_log": ("", "pods/log"), "node": ("", "nodes"),
          "persistent_volume_claim": ("", "persistentvolumeclaims")}
_VERBS = {"create": {"create"}, "read": {"get"}, "list": {"list", "watch"},  # watches are list calls with watch=true
          "delete": {"delete"}, "patch": {"patch"}, "replace": {"update"}}


def documents() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        found += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def of_kind(kind: str) -> list[dict]:
    return [d for _, d in documents() if d["kind"] == kind]


def procfile() -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())


def calls_made_by_the_executor() -> dict[tuple[str, str], set[str]]:
    used: dict[tuple[str, str], set[str]] = {}
    source = "\n".join(p.read_text() for p in sorted(EXECUTOR.glob("*.py")))
    for verb, kind in _CALL.findall(source):
        assert kind in _KINDS, f"executors/kubernetes/ calls {verb}_{kind}: add it to this test and to rbac.yaml"
        used.setdefault(_KINDS[kind], set()).update(_VERBS[verb])
    return used


def granted() -> dict[tuple[str, str], set[str]]:
    rules: dict[tuple[str, str], set[str]] = {}
    (role,) = of_kind("ClusterRole")
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def test_every_file_parses_and_kustomization_lists_them_all():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in DEPLOY.glob("*.yaml")
                                                        if p.name != "kustomization.yaml")
    assert all(d.get("apiVersion") and d.get("kind") for _, d in documents())


def test_the_role_grants_what_the_executor_calls_and_nothing_else():
    used, rules = calls_made_by_the_executor(), granted()
    for resource, verbs in used.items():
        assert verbs <= rules.get(resource, set()), f"{resource}: {sorted(verbs - rules.get(resource, set()))} missing"
    assert rules == NEEDED


def test_the_role_is_bound_to_the_service_account_every_api_caller_runs_as():
    (binding,) = of_kind("ClusterRoleBinding")
    (account,) = of_kind("ServiceAccount")
    assert binding["roleRef"]["name"] == of_kind("ClusterRole")[0]["metadata"]["name"]
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [("ServiceAccount", account["metadata"]["name"])]
    for d in of_kind("Deployment"):
        if d["metadata"]["labels"]["app.kubernetes.io/component"] in ("web", "worker", "watcher"):
            assert d["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


@pytest.mark.parametrize("process", sorted(set(procfile()) - {"redis"}))
def test_each_procfile_process_runs_as_a_deployment_with_the_same_command(process):
    (deployment,) = [d for d in of_kind("Deployment")
                     if d["metadata"]["labels"]["app.kubernetes.io/component"] == process]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c", f"exec {procfile()[process]}"]
    sources = [s.get("configMapRef", s.get("secretRef"))["name"] for s in container["envFrom"]]
    assert sources == ["trellis-config", "trellis-secrets"]


def test_the_settings_select_the_kubernetes_executor_and_an_external_database_and_redis():
    (config,) = of_kind("ConfigMap")
    (secret,) = of_kind("Secret")
    assert config["data"]["TRELLIS_EXECUTOR"] == "kubernetes"
    assert config["data"]["REDIS_URL"].startswith("redis://")
    assert secret["stringData"]["DATABASE_URL"].startswith("postgres://")
    from django.conf import settings

    known = {name for name in dir(settings) if name.startswith("TRELLIS_K8S_")}
    assert {k for k in config["data"] if k.startswith("TRELLIS_K8S_")} <= known  # no misspelt setting


def test_the_dockerfile_copies_what_the_processes_import():
    text = (ROOT / "Dockerfile").read_text()
    for needed in ("manage.py", "mlops_web/", "pipelines/", "scheduling/", "frontend/dist/", "pyproject.toml"):
        assert needed in text
    assert "TRELLIS_VAR_DIR=/app/var" in text
    mounts = {m["mountPath"] for d in of_kind("Deployment") for c in d["spec"]["template"]["spec"]["containers"]
              for m in c.get("volumeMounts", ())}
    assert mounts == {"/app/var"}  # TRELLIS_VAR_DIR, shared: the watcher writes step logs, the web serves them
