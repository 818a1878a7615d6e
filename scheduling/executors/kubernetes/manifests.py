"""Kubernetes manifests for a step run, built by pure functions (no client, no settings, no I/O).

``job_manifest(spec, config)`` is the Job that runs one attempt of one step; ``pvc_manifest`` is
the run's artifact volume, mounted at the same path in every step of the run. Label values are
made valid (sanitised, shortened with a hash suffix); the exact names live in annotations.
"""
from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...jobspec import dns_label, short_hash
from ..base import JobSpec

GROUP = "trellis.dev"
MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = f"{GROUP}/instance"
TEAM, RUN, STEP, ATTEMPT = (f"{GROUP}/{k}" for k in ("team", "run", "step", "attempt"))
GPU_RESOURCE = "nvidia.com/gpu"
STEP_CONTAINER = "step"
RUN_VOLUME = "run"

_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_NOT_LABEL = re.compile(r"[^-A-Za-z0-9_.]+")


@dataclass(frozen=True)
class KubernetesConfig:
    """What the cluster side of Trellis is configured with (from the TRELLIS_K8S_* settings)."""

    namespace_pattern: str = "trellis-{team}"  # "{team}" becomes the team's DNS-safe name
    instance: str = "trellis"  # tells one Trellis installation's jobs from another's
    gpu_class_label: str = "trellis.dev/gpu-class"  # the node label naming a node's GPU class
    gpu_tolerations: tuple[Mapping[str, Any], ...] = (
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
    )
    runs_mount: str = "/trellis/runs"  # the run's volume is mounted at <runs_mount>/<run id>
    storage_class: str = ""  # "" leaves it to the cluster's default class
    volume_size: str = "10Gi"
    service_account: str = ""
    image_pull_secrets: tuple[str, ...] = ()
    ttl_after_finished_s: int = 3600
    pending_timeout_s: float = 600.0
    volume_retention_s: float = 86400.0  # how long a final run's volume outlives it
    init_image: str = "busybox:1.36"  # makes the step's artifact directories; "" to skip
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def selector(self) -> str:
        """The label selector matching every job and pod of this Trellis installation."""
        return f"{MANAGED_BY}=trellis,{INSTANCE}={label_value(self.instance)}"

    @property
    def is_namespace_per_team(self) -> bool:
        return "{team}" in self.namespace_pattern

    def namespace(self, team: str) -> str:
        room = 63 - len(self.namespace_pattern.replace("{team}", ""))
        return self.namespace_pattern.format(team=dns_label(team, max_length=room, fallback="team"))

    def workdir(self, run_id: int) -> str:
        return posixpath.join(self.runs_mount, str(run_id))


def label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters of [-A-Za-z0-9_.], alphanumeric at
    both ends); a text that had to change keeps a hash of the original, so it stays distinct."""
    if len(text) <= 63 and _LABEL_VALUE.fullmatch(text):
        return text
    suffix = short_hash(text)
    head = _NOT_LABEL.sub("-", text)[: 63 - len(suffix) - 1].strip("-_.")
    return f"{head}-{suffix}" if head else suffix


def pvc_name(run_id: int) -> str:
    return f"trellis-run-{run_id}"


def labels_for(spec: JobSpec, config: KubernetesConfig) -> dict[str, str]:
    return {
        **config.extra_labels,
        MANAGED_BY: "trellis",
        INSTANCE: label_value(config.instance),
        TEAM: label_value(spec.team),
        RUN: str(spec.run_id),
        STEP: label_value(spec.step),
        ATTEMPT: str(spec.attempt),
    }


def annotations_for(spec: JobSpec) -> dict[str, str]:
    return {TEAM: spec.team, RUN: str(spec.run_id), STEP: spec.step, ATTEMPT: str(spec.attempt)}


def cpu_quantity(cpu: float) -> str:
    return f"{math.ceil(cpu * 1000)}m"


def memory_quantity(memory_mb: int) -> str:
    return f"{memory_mb}Mi"


def pvc_manifest(*, run_id: int, team: str, config: KubernetesConfig) -> dict:
    """The run's ReadWriteMany artifact volume."""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": config.volume_size}}}
    if config.storage_class:
        spec["storageClassName"] = config.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": pvc_name(run_id),
            "namespace": config.namespace(team),
            "labels": {**config.extra_labels, MANAGED_BY: "trellis", INSTANCE: label_value(config.instance),
                       TEAM: label_value(team), RUN: str(run_id)},
            "annotations": {TEAM: team, RUN: str(run_id)},
        },
        "spec": spec,
    }


def job_manifest(spec: JobSpec, config: KubernetesConfig) -> dict:
    """The Job running one attempt of one step. Trellis owns retries (``backoffLimit: 0``)."""
    workdir = config.workdir(spec.run_id)
    if not _is_under(spec.workdir, workdir):
        raise ValueError(f"job {spec.name}: workdir {spec.workdir} is not under the run's volume at {workdir}")
    labels, annotations = labels_for(spec, config), annotations_for(spec)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,  # the step's environment is what Trellis gives it
        "containers": [_step_container(spec, workdir)],
        "volumes": [{"name": RUN_VOLUME, "persistentVolumeClaim": {"claimName": pvc_name(spec.run_id)}}],
    }
    if config.init_image:
        pod_spec["initContainers"] = [_prepare_container(spec, workdir, config.init_image)]
    if spec.gpu_class:
        pod_spec["nodeSelector"] = {config.gpu_class_label: spec.gpu_class}
    if spec.gpu or spec.gpu_class:
        pod_spec["tolerations"] = [dict(t) for t in config.gpu_tolerations]
    if config.service_account:
        pod_spec["serviceAccountName"] = config.service_account
    if config.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in config.image_pull_secrets]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.name, "namespace": config.namespace(spec.team), "labels": labels,
                     "annotations": annotations},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(spec.timeout_s),
            "ttlSecondsAfterFinished": int(config.ttl_after_finished_s),
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
        },
    }


def _step_container(spec: JobSpec, workdir: str) -> dict:
    threads = str(max(1, math.ceil(spec.cpu)))
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, **spec.env, "TRELLIS_JOB": spec.name}
    limits = {"cpu": cpu_quantity(spec.cpu), "memory": memory_quantity(spec.memory_mb)}
    if spec.gpu:
        limits[GPU_RESOURCE] = str(spec.gpu)
    return {
        "name": STEP_CONTAINER,
        "image": spec.image,
        "command": list(spec.command),
        "workingDir": spec.workdir,
        "env": [{"name": k, "value": str(v)} for k, v in env.items()],
        "resources": {"requests": {"cpu": limits["cpu"], "memory": limits["memory"]}, "limits": limits},
        "volumeMounts": [{"name": RUN_VOLUME, "mountPath": workdir}],
    }


def _prepare_container(spec: JobSpec, workdir: str, image: str) -> dict:
    """Makes the directories the step expects to find (as the local executor does)."""
    dirs = [spec.workdir, posixpath.dirname(spec.log_path), *spec.artifact_dirs]
    return {
        "name": "prepare",
        "image": image,
        "command": ["mkdir", "-p", *dict.fromkeys(dirs)],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "volumeMounts": [{"name": RUN_VOLUME, "mountPath": workdir}],
    }


def _is_under(path: str, root: str) -> bool:
    path, root = posixpath.normpath(path), posixpath.normpath(root)
    return path == root or path.startswith(root + "/")
