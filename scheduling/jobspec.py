"""From a step run to the JobSpec an executor runs: names, paths and the TRELLIS_* environment."""
from __future__ import annotations

import hashlib
import os
import re
from typing import Any, Mapping

from pipelines.spec import StepSpec

from .executors.base import JobSpec


def env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


MAX_JOB_NAME = 63  # a DNS-1123 label: pods carry the job name as a label value
_NOT_DNS = re.compile(r"[^a-z0-9]+")


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dns_label(text: str, *, max_length: int = MAX_JOB_NAME, fallback: str = "x") -> str:
    """``text`` as a DNS-1123 label: lowercase letters, digits and '-', alphanumeric at both
    ends, at most ``max_length``. A text that had to change gets a hash of the original as a
    suffix, so distinct texts stay distinct however they were shortened or transliterated."""
    clean = _NOT_DNS.sub("-", text.lower()).strip("-")
    if clean == text and len(text) <= max_length:
        return text
    suffix = short_hash(text)
    head = clean[: max_length - len(suffix) - 1].rstrip("-") or fallback
    return f"{head}-{suffix}"


def job_name(run_id: int, step: str, attempt: int, admission: int = 1) -> str:
    """Deterministic: the same admission of the same attempt of a step run always has the same name.

    ``trellis-<run>-<step>-<attempt>``, and ``...-<attempt>-r<admission>`` when a preempted attempt
    is admitted again: a job of its own, so the old job's "already exists" is never mistaken for
    the new one and the old job's events never move it. (The ``r`` keeps the names apart: an
    attempt is digits only.) A DNS-1123 label of at most 63 characters; a step name that is too
    long for it or not DNS-safe is shortened and given a hash suffix.
    """
    head, tail = f"trellis-{run_id}-", f"-{attempt}" + (f"-r{admission}" if admission > 1 else "")
    return head + dns_label(step, max_length=MAX_JOB_NAME - len(head) - len(tail), fallback="step") + tail


def artifact_path(workdir: str, step: str, output: str) -> str:
    return os.path.join(workdir, "artifacts", step, output)


def checkpoint_dir(workdir: str, step: str) -> str:
    """Where a step keeps its checkpoints (``TRELLIS_CHECKPOINT_DIR``): the same for every attempt
    and admission of that step of that run, so a preempted or retried step can resume."""
    return os.path.join(workdir, "checkpoints", step)


def job_spec_for(*, run_id: int, team: str, step: StepSpec, attempt: int, workdir: str,
                 parameters: Mapping[str, Any], admission: int = 1) -> JobSpec:
    """``admission``: which admission of this attempt (more than 1 after a preemption)."""
    checkpoints = checkpoint_dir(workdir, step.name)
    env = {
        **step.env,
        "TRELLIS_RUN_ID": str(run_id),
        "TRELLIS_STEP": step.name,
        "TRELLIS_ATTEMPT": str(attempt),
        "TRELLIS_WORKDIR": workdir,
        "TRELLIS_CHECKPOINT_DIR": checkpoints,
        "TRELLIS_CPUS": f"{step.resources.cpu:g}",
    }
    for local, source in step.inputs.items():
        producer, _, output = source.partition(".")
        env[f"TRELLIS_INPUT_{env_name(local)}"] = artifact_path(workdir, producer, output)
    for output in step.outputs:
        env[f"TRELLIS_OUTPUT_{env_name(output)}"] = artifact_path(workdir, step.name, output)
    for key, value in parameters.items():
        env[f"TRELLIS_PARAM_{env_name(key)}"] = str(value)
    return JobSpec(
        name=job_name(run_id, step.name, attempt, admission),
        run_id=run_id,
        step=step.name,
        attempt=attempt,
        team=team,
        image=step.image,
        command=tuple(step.command),
        env=env,
        cpu=step.resources.cpu,
        memory_mb=step.resources.memory_mb,
        gpu=step.resources.gpu,
        gpu_class=step.resources.gpu_class,
        timeout_s=step.timeout_s,
        workdir=workdir,
        log_path=os.path.join(workdir, "logs", f"{step.name}.{attempt}.log"),
        artifact_dirs=(os.path.join(workdir, "artifacts", step.name), checkpoints),
    )
