"""From a step run to the JobSpec an executor runs: names, paths and the TRELLIS_* environment."""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

from pipelines.spec import StepSpec

from .executors.base import JobSpec


def env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def job_name(run_id: int, step: str, attempt: int) -> str:
    """Deterministic: the same attempt of the same step run always has the same job name."""
    return f"trellis-{run_id}-{step}-{attempt}"


def artifact_path(workdir: str, step: str, output: str) -> str:
    return os.path.join(workdir, "artifacts", step, output)


def job_spec_for(*, run_id: int, team: str, step: StepSpec, attempt: int, workdir: str,
                 parameters: Mapping[str, Any]) -> JobSpec:
    checkpoints = os.path.join(workdir, "checkpoints", step.name)
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
        name=job_name(run_id, step.name, attempt),
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
