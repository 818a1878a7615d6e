"""job_manifest() and pvc_manifest() on their own: plain data in, a Kubernetes manifest out."""
from __future__ import annotations

import re

import pytest

from scheduling.executors.base import JobSpec
from scheduling.executors.kubernetes.manifests import KubernetesConfig, job_manifest, label_value, pvc_manifest
from scheduling.jobspec import job_name

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
CONFIG = KubernetesConfig(service_account="trellis-steps", image_pull_secrets=("regcred",), storage_class="nfs",
                          volume_size="50Gi", ttl_after_finished_s=600)


def spec(step: str = "train", *, team: str = "vision", gpu: int = 0, gpu_class: str = "", run_id: int = 7,
         attempt: int = 2, workdir: str | None = None) -> JobSpec:
    workdir = workdir or CONFIG.workdir(run_id)
    return JobSpec(name=job_name(run_id, step, attempt), run_id=run_id, step=step, attempt=attempt, team=team,
                   image="registry.example/train:1", command=("python", "train.py", "--epochs", "3"),
                   env={"TRELLIS_RUN_ID": str(run_id), "TRELLIS_OUTPUT_MODEL": f"{workdir}/artifacts/{step}/model"},
                   cpu=1.5, memory_mb=2048, gpu=gpu, gpu_class=gpu_class, timeout_s=3600, workdir=workdir,
                   log_path=f"{workdir}/logs/{step}.{attempt}.log", artifact_dirs=(f"{workdir}/artifacts/{step}",))


def container(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]["containers"][0]


def test_the_job_runs_the_steps_image_and_command_with_its_environment():
    c = container(job_manifest(spec(), CONFIG))
    env = {e["name"]: e["value"] for e in c["env"]}
    assert (c["image"], c["command"]) == ("registry.example/train:1", ["python", "train.py", "--epochs", "3"])
    assert env["TRELLIS_RUN_ID"] == "7" and env["TRELLIS_JOB"] == "trellis-7-train-2"
    assert env["TRELLIS_OUTPUT_MODEL"] == "/trellis/runs/7/artifacts/train/model"
    assert c["workingDir"] == "/trellis/runs/7"


def test_cpu_and_memory_are_requested_and_limited_alike():
    assert container(job_manifest(spec(), CONFIG))["resources"] == {
        "requests": {"cpu": "1500m", "memory": "2048Mi"}, "limits": {"cpu": "1500m", "memory": "2048Mi"}}


def test_gpus_are_limits_and_the_gpu_class_a_node_selector_with_tolerations():
    manifest = job_manifest(spec(gpu=2, gpu_class="a100"), CONFIG)
    pod = manifest["spec"]["template"]["spec"]
    assert container(manifest)["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == {"trellis.dev/gpu-class": "a100"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_a_cpu_step_has_no_gpu_selector_or_tolerations():
    pod = job_manifest(spec(), CONFIG)["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]


def test_the_gpu_class_label_key_is_configurable():
    config = KubernetesConfig(gpu_class_label="cloud.google.com/gke-accelerator")
    pod = job_manifest(spec(gpu=1, gpu_class="nvidia-l4", workdir=config.workdir(7)), config)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}


def test_the_runs_volume_is_mounted_at_the_runs_workdir_in_every_step():
    mounts = {step: container(job_manifest(spec(step), CONFIG))["volumeMounts"] for step in ("prepare", "train")}
    assert mounts["prepare"] == mounts["train"] == [{"name": "run", "mountPath": "/trellis/runs/7"}]
    pod = job_manifest(spec(), CONFIG)["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "run", "persistentVolumeClaim": {"claimName": "trellis-run-7"}}]
    assert pod["initContainers"][0]["command"] == [
        "mkdir", "-p", "/trellis/runs/7", "/trellis/runs/7/logs", "/trellis/runs/7/artifacts/train"]


def test_a_workdir_outside_the_runs_volume_is_refused():
    with pytest.raises(ValueError, match="workdir /tmp/runs/7 is not under the run's volume at /trellis/runs/7"):
        job_manifest(spec(workdir="/tmp/runs/7"), CONFIG)


def test_trellis_owns_retries_timeouts_and_cleanup():
    job = job_manifest(spec(), CONFIG)["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"], job["ttlSecondsAfterFinished"]) == (0, 3600, 600)
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_service_account_and_image_pull_secrets_come_from_the_config():
    pod = job_manifest(spec(), CONFIG)["spec"]["template"]["spec"]
    assert (pod["serviceAccountName"], pod["imagePullSecrets"]) == ("trellis-steps", [{"name": "regcred"}])
    bare = job_manifest(spec(), KubernetesConfig())["spec"]["template"]["spec"]
    assert "serviceAccountName" not in bare and "imagePullSecrets" not in bare


def test_labels_and_annotations_link_team_run_step_and_attempt():
    meta = job_manifest(spec(team="Vision Research"), CONFIG)["metadata"]
    assert meta["annotations"] == {"trellis.dev/team": "Vision Research", "trellis.dev/run": "7",
                                   "trellis.dev/step": "train", "trellis.dev/attempt": "2"}
    assert meta["labels"]["trellis.dev/run"] == "7" and meta["labels"]["trellis.dev/attempt"] == "2"
    assert all(LABEL_VALUE.fullmatch(v) and len(v) <= 63 for v in meta["labels"].values())
    assert meta["labels"]["trellis.dev/team"].startswith("Vision-Research-")


def test_pods_carry_the_same_labels_as_their_job():
    manifest = job_manifest(spec(), CONFIG)
    assert manifest["spec"]["template"]["metadata"]["labels"] == manifest["metadata"]["labels"]


@pytest.mark.parametrize("team, namespace", [("vision", "trellis-vision"), ("Vision Research", None),
                                             ("δ-team", None), ("x" * 80, None)],
                         ids=["a dns-safe team keeps its name", "spaces and capitals", "non-ascii", "too long"])
def test_each_team_gets_a_valid_namespace_of_its_own(team, namespace):
    got = job_manifest(spec(team=team), CONFIG)["metadata"]["namespace"]
    assert DNS_LABEL.fullmatch(got) and len(got) <= 63
    if namespace:
        assert got == namespace


def test_the_namespace_pattern_is_configurable():
    assert KubernetesConfig(namespace_pattern="ml-jobs").namespace("vision") == "ml-jobs"
    assert KubernetesConfig(namespace_pattern="team-{team}").namespace("vision") == "team-vision"


@pytest.mark.parametrize("text", ["train", "Train Model", "ünïcödé", "a" * 100, "-edge-", ""],
                         ids=["plain", "spaces", "non-ascii", "long", "dashes at the ends", "empty"])
def test_label_values_are_always_valid(text):
    value = label_value(text)
    assert LABEL_VALUE.fullmatch(value) and len(value) <= 63


def test_the_runs_volume_is_read_write_many_of_the_configured_class_and_size():
    pvc = pvc_manifest(run_id=7, team="vision", config=CONFIG)
    assert (pvc["metadata"]["name"], pvc["metadata"]["namespace"]) == ("trellis-run-7", "trellis-vision")
    assert pvc["spec"] == {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "50Gi"}},
                           "storageClassName": "nfs"}


# ---------------------------------------------------------------------- job names


def test_a_plain_step_keeps_its_readable_job_name():
    assert job_name(12, "train", 3) == "trellis-12-train-3"


@pytest.mark.parametrize("step", ["a" * 63, "Train Model", "ünïcödé-step", "x-" * 40],
                         ids=["longest step name", "spaces and capitals", "non-ascii", "very long"])
def test_job_names_are_dns_labels_of_at_most_63_characters(step):
    name = job_name(123456789, step, 99)
    assert DNS_LABEL.fullmatch(name) and len(name) <= 63
    assert name == job_name(123456789, step, 99)  # deterministic


def test_steps_that_shorten_alike_keep_distinct_job_names():
    long_a, long_b = "a" * 62 + "b", "a" * 62 + "c"
    names = {job_name(1, s, 1) for s in (long_a, long_b, "Train", "train", "tráin", "tr-in")}
    assert len(names) == 6
