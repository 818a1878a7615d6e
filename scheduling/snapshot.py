"""Database rows -> the scheduling core's plain data. Reads only.

Until quotas have cohorts and nodes are reported one by one, the executor's capacity is one
node (a pool, when the executor reports a smaller largest node) and each Quota row is a nominal
quota with no cohort, so nothing borrows and nothing is preempted.
"""
from __future__ import annotations

from pipelines import states
from pipelines.models import StepRun

from .core.types import Capacity, Request, Running, Snapshot, TeamQuota, Waiting
from .models import Quota


def load(*, capacity: Capacity) -> Snapshot:
    waiting = tuple(
        Waiting(
            step_run_id=r["id"], team=r["team__name"], submitted_at=r["queued_at"], priority=r["priority"],
            ready_at=r["ready_at"], request=Request(r["cpu"], r["memory_mb"], r["gpu"], r["gpu_class"]),
            run_id=r["run_id"],
        )
        for r in StepRun.objects.filter(status=states.QUEUED).values(
            "id", "team__name", "queued_at", "priority", "ready_at", "cpu", "memory_mb", "gpu", "gpu_class", "run_id"
        )
    )
    running = tuple(
        Running(step_run_id=r["id"], team=r["team__name"], request=Request(r["cpu"], r["memory_mb"], r["gpu"]),
                priority=r["priority"], started_at=r["started_at"], run_id=r["run_id"])
        for r in StepRun.objects.filter(status__in=states.STEP_ACTIVE).values(
            "id", "team__name", "cpu", "memory_mb", "gpu", "priority", "started_at", "run_id"
        )
    )
    quotas = {
        q["team__name"]: TeamQuota(float(q["cpu"]), q["memory_mb"], q["gpu"])
        for q in Quota.objects.values("team__name", "cpu", "memory_mb", "gpu")
    }
    return Snapshot(waiting=waiting, running=running, quotas=quotas, nodes=capacity.as_nodes())
