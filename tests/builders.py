"""Small constructors with defaults, so a test states only what it is about."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.spec import NodeLimits, PipelineSpec, Resources, StepSpec

_TUPLE_FIELDS = ("command", "outputs", "depends_on")


def step(name: str, **fields: Any) -> StepSpec:
    """A valid step that runs ``python -c pass``; lists are accepted for tuple fields and a
    dict for ``resources``: ``step("train", depends_on=["prepare"], resources={"gpu": 1})``."""
    fields.setdefault("command", ("python", "-c", "pass"))
    for key in _TUPLE_FIELDS:
        if key in fields:
            fields[key] = tuple(fields[key])
    if isinstance(fields.get("resources"), Mapping):
        fields["resources"] = Resources(**fields["resources"])
    return StepSpec(name=name, **fields)


def spec(*steps: StepSpec) -> PipelineSpec:
    return PipelineSpec(steps=tuple(steps))


def chain(*names: str) -> PipelineSpec:
    """Steps each depending on the one before: ``chain("a", "b", "c")`` is a -> b -> c."""
    return spec(*(step(n, depends_on=names[i - 1 : i]) for i, n in enumerate(names)))


def node_limits(cpu: float = 8, memory_mb: int = 32768, gpu: int = 4) -> NodeLimits:
    return NodeLimits(cpu=cpu, memory_mb=memory_mb, gpu=gpu)
