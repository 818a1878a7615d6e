"""A pipeline as plain data: what the editor saves, what validation reads, what a run snapshots.

A spec travels as JSON::

    {"steps": [{"name": "train-mlp", "type": "train", "image": "...", "command": ["python", ...],
                "env": {"K": "v"}, "resources": {"cpu": 1, "memory_mb": 2048, "gpu": 0,
                "gpu_class": ""}, "inputs": {"data": "prepare.dataset"}, "outputs": ["model"],
                "depends_on": [], "retries": 1, "timeout_s": 900, "estimate_s": 60,
                "gang": 1, "preemptible": false, "node_selector": {},
                "position": {"x": 0, "y": 0}}],
     "excludes": ["other-pipeline"]}

An input maps a local name to ``<producer step>.<output name>``; it implies a dependency on
the producer. ``depends_on`` adds ordering without an artifact. ``gang``: how many identical pods the step
needs started together (distributed training), all or nothing. ``preemptible``: the scheduler may
stop it (SIGTERM, a grace period, back to the queue in its place) to make room. ``node_selector``:
node labels it must run on. ``excludes``: pipelines a run of this one must never run beside.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

STEP_TYPES = ("python", "data_prep", "train", "evaluate", "export", "custom")

# Used for the critical path when a step gives no estimate of its own.
DEFAULT_ESTIMATE_S = {
    "python": 60.0,
    "data_prep": 120.0,
    "train": 1800.0,
    "evaluate": 120.0,
    "export": 60.0,
    "custom": 300.0,
}


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    memory_mb: int = 1024
    gpu: int = 0
    gpu_class: str = ""


@dataclass(frozen=True)
class StepSpec:
    name: str
    type: str = "python"
    image: str = "python:3.11-slim"
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    inputs: Mapping[str, str] = field(default_factory=dict)  # local name -> "producer.output"
    outputs: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    retries: int = 0
    timeout_s: int = 3600
    estimate_s: float | None = None
    gang: int = 1
    preemptible: bool = False
    node_selector: Mapping[str, str] = field(default_factory=dict)
    position: Mapping[str, float] = field(default_factory=lambda: {"x": 0.0, "y": 0.0})

    @property
    def upstream(self) -> tuple[str, ...]:
        """Names of the steps this one waits for: explicit dependencies, then input producers."""
        seen: dict[str, None] = dict.fromkeys(self.depends_on)
        for source in self.inputs.values():
            seen.setdefault(source.partition(".")[0], None)
        return tuple(seen)

    @property
    def estimated_s(self) -> float:
        if self.estimate_s is not None:
            return float(self.estimate_s)
        return DEFAULT_ESTIMATE_S.get(self.type, DEFAULT_ESTIMATE_S["custom"])


@dataclass(frozen=True)
class PipelineSpec:
    steps: tuple[StepSpec, ...] = ()
    excludes: tuple[str, ...] = ()  # pipelines (by name) a run of this one must never run beside

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec. ``steps`` names every step involved, in a readable order."""

    code: str
    message: str
    steps: tuple[str, ...] = ()
    severity: str = "error"  # "error" blocks saving and running; "warning" does not
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "steps": list(self.steps)}


@dataclass(frozen=True)
class NodeLimits:
    """The largest node a step may land on; a request above it can never be scheduled."""

    cpu: float
    memory_mb: int
    gpu: int


def step_from_dict(data: Mapping[str, Any]) -> StepSpec:
    res = data.get("resources") or {}
    return StepSpec(
        name=str(data["name"]),
        type=str(data.get("type", "python")),
        image=str(data.get("image", "python:3.11-slim")),
        command=tuple(str(c) for c in data.get("command") or ()),
        env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
        resources=Resources(
            cpu=float(res.get("cpu", 1.0)),
            memory_mb=int(res.get("memory_mb", 1024)),
            gpu=int(res.get("gpu", 0)),
            gpu_class=str(res.get("gpu_class", "") or ""),
        ),
        inputs={str(k): str(v) for k, v in (data.get("inputs") or {}).items()},
        outputs=tuple(str(o) for o in data.get("outputs") or ()),
        depends_on=tuple(str(d) for d in data.get("depends_on") or ()),
        retries=int(data.get("retries", 0)),
        timeout_s=int(data.get("timeout_s", 3600)),
        estimate_s=None if data.get("estimate_s") is None else float(data["estimate_s"]),
        gang=int(data.get("gang", 1)),
        preemptible=bool(data.get("preemptible", False)),
        node_selector={str(k): str(v) for k, v in (data.get("node_selector") or {}).items()},
        position={k: float(v) for k, v in (data.get("position") or {"x": 0, "y": 0}).items()},
    )


def spec_from_dict(data: Mapping[str, Any]) -> PipelineSpec:
    return PipelineSpec(
        steps=tuple(step_from_dict(s) for s in data.get("steps") or ()),
        excludes=tuple(str(e) for e in data.get("excludes") or ()),
    )


def step_to_dict(step: StepSpec) -> dict[str, Any]:
    return {
        "name": step.name,
        "type": step.type,
        "image": step.image,
        "command": list(step.command),
        "env": dict(step.env),
        "resources": asdict(step.resources),
        "inputs": dict(step.inputs),
        "outputs": list(step.outputs),
        "depends_on": list(step.depends_on),
        "retries": step.retries,
        "timeout_s": step.timeout_s,
        "estimate_s": step.estimate_s,
        "gang": step.gang,
        "preemptible": step.preemptible,
        "node_selector": dict(step.node_selector),
        "position": dict(step.position),
    }


def spec_to_dict(spec: PipelineSpec) -> dict[str, Any]:
    return {"steps": [step_to_dict(s) for s in spec.steps], "excludes": list(spec.excludes)}
