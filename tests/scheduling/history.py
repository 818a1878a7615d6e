"""Arranging step runs of the past for the scheduling tests: runs that succeeded in given times."""
from __future__ import annotations

from datetime import datetime, timedelta

from pipelines import services, states
from pipelines.models import Run, StepRun


def finished_run(pipeline, *, step: str, ran_s: float, ended_at: datetime, waited_s: float = 0.0,
                 status: str = states.SUCCEEDED) -> StepRun:
    """A run of ``pipeline`` whose step ``step`` waited ``waited_s``, ran ``ran_s`` and ended at
    ``ended_at`` with ``status`` (its other steps are left as they are)."""
    started_at = ended_at - timedelta(seconds=ran_s)
    queued_at = started_at - timedelta(seconds=waited_s)
    run = services.submit_run(pipeline, user=None, now=queued_at)
    StepRun.objects.filter(run=run, step_name=step).update(
        status=status, queued_at=queued_at, admitted_at=started_at, started_at=started_at, finished_at=ended_at)
    Run.objects.filter(pk=run.pk).update(created_at=queued_at)
    return StepRun.objects.get(run=run, step_name=step)


def hold(step_run: StepRun, *, status: str, started_at: datetime | None = None, node: str = "",
         is_borrowed: bool = False) -> StepRun:
    """Put a step run in an active status (admitted, running, preempted) since ``started_at``."""
    StepRun.objects.filter(pk=step_run.pk).update(status=status, admitted_at=started_at, started_at=started_at,
                                                  node=node, is_borrowed=is_borrowed)
    step_run.refresh_from_db()
    return step_run
