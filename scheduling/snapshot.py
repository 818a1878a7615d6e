"""Database rows -> the scheduling core's plain data. Reads only.

``load`` gathers what one decision reads, in a handful of queries (``.values()``, no query per
row): the queued step runs, the step runs holding resources (admitted, running, and preempted
ones still stopping), every team's quota with its cohort and borrowing limits, the GPU classes,
each team's past usage decayed over the cluster's fair-share half-life, the estimates of every
step run involved, and the nodes the executor reports.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Iterable

from django.utils import timezone

from pipelines import states
from pipelines.models import StepRun

from .core.types import Capacity, GpuClass, Request, Running, Snapshot, TeamQuota, Usage, Waiting
from .estimates import StepKey, estimates
from .models import GpuClass as GpuClassRow, GpuClassQuota, Quota

USAGE_HALF_LIVES = 10  # usage older than this many half-lives weighs under 0.1%: not read

_STEP_FIELDS = ("id", "team__name", "cpu", "memory_mb", "gpu", "gpu_class", "gang", "priority", "is_preemptible",
                "run_id", "run__pipeline_id", "run__pipeline__name", "run__version_id", "run__excludes",
                "step_name", "step_type")


def load(*, capacity: Capacity, now: datetime | None = None, half_life_s: float | None = None,
         with_usage: bool = True) -> Snapshot:
    """Everything ``core.admit`` reads. ``half_life_s``: fair share's (default: the current
    cluster's); ``with_usage=False`` skips the past usage (only fair share reads it)."""
    now = now or timezone.now()
    waiting_rows = list(StepRun.objects.filter(status=states.QUEUED).values(
        *_STEP_FIELDS, "queued_at", "ready_at", "node_selector"))
    holding_rows = list(StepRun.objects.filter(status__in=states.STEP_HOLDING).values(
        *_STEP_FIELDS, "status", "started_at", "admitted_at", "is_borrowed", "node"))
    estimate = estimates(_key(r) for r in (*waiting_rows, *holding_rows))
    node_names = {n.name for n in capacity.as_nodes()}
    if with_usage and half_life_s is None:
        from .clusters import current

        half_life_s = current().fair_share_half_life_s
    return Snapshot(
        waiting=tuple(_waiting(r, estimate[_key(r)]) for r in waiting_rows),
        running=tuple(_running(r, estimate[_key(r)], node_names) for r in holding_rows),
        quotas=quotas(),
        nodes=capacity.as_nodes(),
        usage=usage(now=now, half_life_s=half_life_s) if with_usage else {},
        gpu_classes=tuple(GpuClass(name, speed) for name, speed in GpuClassRow.objects.values_list("name", "speed")),
    )


def quotas() -> dict[str, TeamQuota]:
    """Team name -> its quota: nominal per resource and GPU class, cohort, borrowing limits
    (a blank limit is no limit), weight."""
    classes: dict[int, dict[str, int]] = {}
    class_limits: dict[int, dict[str, float]] = {}
    for quota_id, cls, gpu, borrow in GpuClassQuota.objects.values_list("quota_id", "gpu_class__name", "gpu",
                                                                         "borrow_gpu"):
        classes.setdefault(quota_id, {})[cls] = gpu
        if borrow is not None:
            class_limits.setdefault(quota_id, {})[f"gpu/{cls}"] = float(borrow)
    out = {}
    for q in Quota.objects.values("id", "team__name", "cpu", "memory_mb", "gpu", "cohort__name", "borrow_cpu",
                                  "borrow_memory_mb", "borrow_gpu", "weight"):
        limits = {key: float(q[field]) for key, field in
                  (("cpu", "borrow_cpu"), ("memory_mb", "borrow_memory_mb"), ("gpu", "borrow_gpu"))
                  if q[field] is not None}
        limits.update(class_limits.get(q["id"], {}))
        out[q["team__name"]] = TeamQuota(
            cpu=float(q["cpu"]), memory_mb=q["memory_mb"], gpu=q["gpu"], gpu_classes=classes.get(q["id"], {}),
            cohort=q["cohort__name"] or "", borrowing_limit=limits or None, weight=q["weight"],
        )
    return out


def usage(*, now: datetime, half_life_s: float) -> dict[str, Usage]:
    """Team name -> the resource-seconds its step runs used, each second weighted by
    ``0.5 ** (age / half_life_s)`` (so as of ``now``). Counts finished step runs that ran within
    the last ``USAGE_HALF_LIVES`` half-lives and those still holding resources (up to ``now``)."""
    since = now - timedelta(seconds=half_life_s * USAGE_HALF_LIVES)
    rows = StepRun.objects.filter(started_at__isnull=False).filter(
        status__in=states.STEP_HOLDING | {states.SUCCEEDED, states.FAILED, states.CANCELLED}
    ).exclude(finished_at__lt=since).values_list("team__name", "cpu", "memory_mb", "gpu", "gang", "started_at",
                                                 "finished_at")
    sums: dict[str, list[float]] = {}
    rate = math.log(2) / half_life_s
    for team, cpu, memory_mb, gpu, gang, started_at, finished_at in rows:
        seconds = _decayed_seconds(started_at, finished_at or now, now, rate)
        if seconds <= 0:
            continue
        s = sums.setdefault(team, [0.0, 0.0, 0.0])
        s[0] += cpu * gang * seconds
        s[1] += memory_mb * gang * seconds
        s[2] += gpu * gang * seconds
    return {team: Usage(cpu_s=c, memory_mb_s=m, gpu_s=g, as_of=now) for team, (c, m, g) in sums.items()}


def _decayed_seconds(start: datetime, end: datetime, now: datetime, rate: float) -> float:
    """The integral of ``exp(-rate * (now - t))`` for t from ``start`` to ``end`` (both clipped
    to ``now``): seconds of use, each weighted by its age."""
    end = min(end, now)
    if end <= start:
        return 0.0
    age_end = (now - end).total_seconds()
    age_start = (now - start).total_seconds()
    return (math.exp(-rate * age_end) - math.exp(-rate * age_start)) / rate


def _key(r: dict) -> StepKey:
    return StepKey(r["run__pipeline_id"], r["run__version_id"], r["step_name"], r["step_type"])


def _request(r: dict) -> Request:
    return Request(r["cpu"], r["memory_mb"], r["gpu"], r["gpu_class"])


def _waiting(r: dict, estimate_s: float) -> Waiting:
    return Waiting(
        step_run_id=r["id"], team=r["team__name"], request=_request(r), submitted_at=r["queued_at"],
        priority=r["priority"], ready_at=r["ready_at"], estimate_s=estimate_s, gang=r["gang"],
        is_preemptible=r["is_preemptible"], node_selector=r["node_selector"] or {}, pipeline=r["run__pipeline__name"],
        run_id=r["run_id"], excludes=frozenset(r["run__excludes"] or ()),
    )


def _running(r: dict, estimate_s: float, node_names: set[str]) -> Running:
    return Running(
        step_run_id=r["id"], team=r["team__name"], request=_request(r), nodes=_nodes(r["node"], r["gang"], node_names),
        gang=r["gang"], priority=r["priority"], is_preemptible=r["is_preemptible"], is_borrowed=r["is_borrowed"],
        started_at=r["started_at"] or r["admitted_at"], estimate_s=estimate_s, pipeline=r["run__pipeline__name"],
        run_id=r["run_id"], excludes=frozenset(r["run__excludes"] or ()),
        is_stopping=r["status"] == states.PREEMPTED,
    )


def _nodes(node: str, gang: int, known: Iterable[str]) -> tuple[str, ...]:
    """The nodes a step run's pods are on, when the executor named them all and the snapshot
    knows them; else () and the core holds it wherever it fits (a local executor's one pool)."""
    names = tuple(n for n in (node or "").split(",") if n)
    if len(names) == max(gang, 1) and all(n in known for n in names):
        return names
    return ()
