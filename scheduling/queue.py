"""A team's queue as its members see it: what waits, in which order and why; what runs; usage
against quota.

Nothing here knows a scheduling rule. ``team_queue`` loads the same snapshot the dispatcher
loads, asks the pure core for the decision it would take now, and reads the answer: the
policy's order over the whole cluster (each of the team's step runs keeps its overall
position), the reason each one waits, and what the team holds per resource. Reads only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from pipelines import states
from pipelines.models import StepRun, StepRunEvent

from . import clusters, core
from .core.admission import usage_of
from .core.quota import label
from .core.types import Capacity, Decision, TeamQuota
from .models import Team

ADMIT_NEXT = "admitted at the next dispatch"
SHOWN_STATES = (states.ADMITTED, states.RUNNING, states.PREEMPTED)


@dataclass(frozen=True)
class StepRequest:
    cpu: float
    memory_mb: int
    gpu: int
    gpu_class: str
    gang: int  # pods started together; the request is per pod


@dataclass(frozen=True)
class QueuedStep:
    """A waiting step run. ``verdict``: ``admit`` (the next dispatch starts it), ``wait`` or
    ``never`` (it can never fit: the next dispatch fails it)."""

    step_run_id: int
    position: int  # 1-based place in the whole cluster's admission order
    run_id: int
    pipeline: str
    step: str
    attempt: int
    request: StepRequest
    priority: int
    queued_at: datetime | None
    verdict: str
    reason: str


@dataclass(frozen=True)
class ActiveStep:
    """An admitted, running or preempted step run; ``preempting``: why the next dispatch would
    preempt it (empty when it would not)."""

    step_run_id: int
    run_id: int
    pipeline: str
    step: str
    attempt: int
    status: str
    node: str
    since: datetime | None
    request: StepRequest
    preempting: str


@dataclass(frozen=True)
class ResourceUsage:
    """What the team holds of one resource (``cpu``, ``memory_mb``, ``gpu``, ``gpu/<class>``).

    ``nominal`` None: the quota does not limit it on its own. ``borrowing_limit`` None: no limit
    beyond what the cohort lends. ``borrowed``: what it holds beyond its nominal quota.
    """

    resource: str
    label: str
    used: float
    nominal: float | None
    borrowing_limit: float | None
    borrowed: float


@dataclass(frozen=True)
class TeamQueue:
    team_id: int
    team: str
    policy: str
    cohort: str
    has_quota: bool
    waiting_in_cluster: int
    waiting: tuple[QueuedStep, ...]
    active: tuple[ActiveStep, ...]
    usage: tuple[ResourceUsage, ...]
    as_of: datetime


def team_queue(team: Team, *, capacity: Capacity, now: datetime) -> TeamQueue:
    """The team's queue as the next dispatch would see it. ``capacity``: the executor's, asked
    by the caller outside any transaction."""
    policy = clusters.policy_of(clusters.current())  # as dispatch_once builds it
    with transaction.atomic():  # one consistent read of queue, running work and quotas
        snap = clusters.snapshot_for(policy, capacity=capacity, now=now)
        decision = core.admit(snap, policy=policy, now=now)
        waiting = _waiting(team, decision, snap)
        active = _active(team, decision)
    quota = snap.quotas.get(team.name)
    return TeamQueue(
        team_id=team.pk, team=team.name, policy=decision.policy, cohort=quota.cohort if quota else "",
        has_quota=quota is not None, waiting_in_cluster=len(decision.order), waiting=waiting, active=active,
        usage=_usage(team.name, quota, usage_of(snap).get(team.name, {})), as_of=now,
    )


def _waiting(team: Team, decision: Decision, snap: core.Snapshot) -> tuple[QueuedStep, ...]:
    mine = {w.step_run_id for w in snap.waiting if w.team == team.name}
    position = {sid: i for i, sid in enumerate(decision.order, start=1) if sid in mine}
    rows = _rows(StepRun.objects.filter(pk__in=position))
    admitted = set(decision.admitted)
    out = []
    for sid in sorted(position, key=position.get):
        sr = rows.get(sid)
        if sr is None:
            continue
        if sid in admitted:
            verdict, reason = "admit", ADMIT_NEXT
        elif sid in decision.impossible:
            verdict, reason = "never", f"can never fit: {decision.impossible[sid]}"
        else:
            verdict, reason = "wait", decision.blocked.get(sid, "waits for the next dispatch")
        out.append(QueuedStep(
            step_run_id=sid, position=position[sid], run_id=sr.run_id, pipeline=sr.run.pipeline.name,
            step=sr.step_name, attempt=sr.attempt, request=_request(sr), priority=sr.priority,
            queued_at=sr.queued_at, verdict=verdict, reason=reason,
        ))
    return tuple(out)


def _active(team: Team, decision: Decision) -> tuple[ActiveStep, ...]:
    rows = _rows(StepRun.objects.filter(team=team, status__in=SHOWN_STATES))
    changed_at = dict(
        StepRunEvent.objects.filter(step_run_id__in=rows).values("step_run_id").annotate(at=Max("at"))
        .values_list("step_run_id", "at")
    )
    out = []
    for sr in sorted(rows.values(), key=lambda sr: (SHOWN_STATES.index(sr.status), sr.pk)):
        since = {states.RUNNING: sr.started_at, states.ADMITTED: sr.admitted_at}.get(sr.status) or changed_at.get(sr.pk)
        out.append(ActiveStep(
            step_run_id=sr.pk, run_id=sr.run_id, pipeline=sr.run.pipeline.name, step=sr.step_name,
            attempt=sr.attempt, status=sr.status, node=sr.node, since=since, request=_request(sr),
            preempting=decision.preempted.get(sr.pk, ""),
        ))
    return tuple(out)


def _usage(team: str, quota: TeamQuota | None, used: dict[str, float]) -> tuple[ResourceUsage, ...]:
    nominal = quota.nominal() if quota else {}
    limits = (quota.borrowing_limit or {}) if quota else {}
    classes = sorted({k for k in (*nominal, *used) if k.startswith("gpu/")})
    out = []
    for key in ("cpu", "memory_mb", "gpu", *classes):
        held, cap = float(used.get(key, 0.0)), nominal.get(key)
        borrowed = max(0.0, held - cap) if cap is not None else 0.0
        out.append(ResourceUsage(resource=key, label=label(key), used=held, nominal=cap,
                                 borrowing_limit=limits.get(key), borrowed=borrowed))
    return tuple(out)


def _rows(step_runs) -> dict[int, StepRun]:
    return {sr.pk: sr for sr in step_runs.select_related("run__pipeline")}


def _request(sr: StepRun) -> StepRequest:
    return StepRequest(cpu=sr.cpu, memory_mb=sr.memory_mb, gpu=sr.gpu, gpu_class=sr.gpu_class, gang=sr.gang)


def current_team_queue(team: Team) -> TeamQueue:
    """``team_queue`` against the executor in use, now."""
    from django.utils import timezone

    from .executors import get_executor

    return team_queue(team, capacity=get_executor().capacity(), now=timezone.now())
