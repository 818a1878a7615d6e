"""Small constructors with defaults, so a test states only what it is about."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from pipelines.spec import NodeLimits, PipelineSpec, Resources, StepSpec
from scheduling.core.types import Capacity, Request, Running, Snapshot, TeamQuota, Waiting

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


def diamond(**fields: Any) -> PipelineSpec:
    """``a`` feeds ``b`` and ``c``, which both feed the join ``d``; ``fields`` go to every step."""
    return spec(
        step("a", **fields),
        step("b", depends_on=["a"], **fields),
        step("c", depends_on=["a"], **fields),
        step("d", depends_on=["b", "c"], **fields),
    )


def node_limits(cpu: float = 8, memory_mb: int = 32768, gpu: int = 4) -> NodeLimits:
    return NodeLimits(cpu=cpu, memory_mb=memory_mb, gpu=gpu)


# -- the scheduling core's plain data --------------------------------------------------------

SUBMITTED_AT = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)


def request(cpu: float = 1, memory_mb: int = 1024, gpu: int = 0) -> Request:
    return Request(cpu=cpu, memory_mb=memory_mb, gpu=gpu)


def waiting(step_run_id: int = 1, *, team: str = "a", cpu: float = 1, memory_mb: int = 1024, gpu: int = 0,
            submitted_at: datetime = SUBMITTED_AT, ready_at: datetime | None = None) -> Waiting:
    return Waiting(step_run_id=step_run_id, team=team, request=request(cpu, memory_mb, gpu),
                   submitted_at=submitted_at, ready_at=ready_at)


def running(step_run_id: int = 1001, *, team: str = "a", cpu: float = 1, memory_mb: int = 1024,
            gpu: int = 0) -> Running:
    return Running(step_run_id=step_run_id, team=team, request=request(cpu, memory_mb, gpu))


def quota(cpu: float = 8, memory_mb: int = 32768, gpu: int = 0) -> TeamQuota:
    return TeamQuota(cpu=cpu, memory_mb=memory_mb, gpu=gpu)


def capacity(cpu: float = 64, memory_mb: int = 262144, gpu: int = 8,
             largest_node: Request | None = None) -> Capacity:
    return Capacity(cpu=cpu, memory_mb=memory_mb, gpu=gpu, largest_node=largest_node)


def snapshot(waiting: Iterable[Waiting] = (), running: Iterable[Running] = (),
             quotas: Mapping[str, TeamQuota] | None = None, capacity: Capacity | None = None) -> Snapshot:
    """Every team named by a waiting or running step run gets the default quota unless given."""
    waiting, running = tuple(waiting), tuple(running)
    if quotas is None:
        quotas = {w.team: quota() for w in (*waiting, *running)}
    roomy = Capacity(cpu=64, memory_mb=262144, gpu=8)
    return Snapshot(waiting=waiting, running=running, quotas=quotas, capacity=capacity or roomy)
