"""dispatch_once(): the one place that reads the database, asks the core and calls an executor.

Read, decide with pure code, write in one short transaction, then talk to the executor. Job
names are deterministic, so a repeated submit after a crash is a harmless "already exists";
``reconcile`` resubmits admitted step runs whose job never appeared.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from pipelines import services, states
from pipelines.models import Run, StepRun
from pipelines.spec import spec_from_dict

from . import core, snapshot
from .executors.base import Executor, JobSpec
from .jobspec import job_spec_for
from .models import DispatchCursor

log = logging.getLogger(__name__)

LOCK_NAME = "dispatch-lock"


def lock_dispatcher() -> None:
    """One dispatcher at a time: a row lock on PostgreSQL; SQLite's IMMEDIATE transactions already
    serialise writers."""
    DispatchCursor.objects.select_for_update().get_or_create(name=LOCK_NAME)


def dispatch_once(*, executor: Executor, policy: str, now: datetime) -> core.Decision:
    capacity = executor.capacity()  # 1. ask the executor, outside any transaction
    with transaction.atomic():
        lock_dispatcher()  # 2. one dispatcher at a time
        snap = snapshot.load(capacity=capacity)
        decision = core.admit(snap, policy=policy, now=now)  # 3. decide, purely
        jobs = record_admissions(decision, executor=executor, now=now)  # 4. conditional updates
        fail_impossible(decision, now=now)
    submit_jobs(jobs, executor=executor, now=now)  # 5. act after commit
    return decision


def record_admissions(decision: core.Decision, *, executor: Executor, now: datetime) -> list[tuple[int, JobSpec]]:
    """Move admitted step runs queued -> admitted; those that lost a race drop out."""
    if not decision.admitted:
        return []
    rows = {sr.pk: sr for sr in StepRun.objects.filter(pk__in=decision.admitted).select_related("team")}
    runs = {r.pk: r for r in Run.objects.filter(pk__in={sr.run_id for sr in rows.values()})}
    jobs = []
    for step_run_id in decision.admitted:
        sr = rows[step_run_id]
        job = _job_for(sr, runs[sr.run_id], executor)
        if services.transition(sr.pk, to=states.ADMITTED, expected=states.QUEUED, attempt=sr.attempt, now=now,
                               reason=f"admitted by {decision.policy}", handle=job.name,
                               log_path=_log_path(executor, job)):
            jobs.append((sr.pk, job))
    return jobs


def fail_impossible(decision: core.Decision, *, now: datetime) -> None:
    for step_run_id, why in decision.impossible.items():
        services.transition(step_run_id, to=states.FAILED, expected=states.QUEUED, now=now,
                            reason=f"cannot be scheduled: {why}", allow_retry=False)


def submit_jobs(jobs: list[tuple[int, JobSpec]], *, executor: Executor, now: datetime) -> None:
    for step_run_id, job in jobs:
        try:
            executor.submit(job)
        except Exception as exc:  # the step fails (and may retry); the dispatcher goes on
            log.exception("could not start %s", job.name)
            services.transition(step_run_id, to=states.FAILED, expected=states.ADMITTED, attempt=job.attempt,
                                now=now, reason=f"could not start: {exc}")


def reconcile(*, executor: Executor, now: datetime, grace_s: float) -> int:
    """Resubmit step runs admitted more than ``grace_s`` ago whose job may never have been created
    (a worker died between commit and submit). Submitting is idempotent. Returns how many."""
    stale = StepRun.objects.filter(status=states.ADMITTED, admitted_at__lt=now - timedelta(seconds=grace_s))
    return len(_resubmit(stale, executor=executor, now=now))


@dataclass(frozen=True)
class Reconciled:
    cancelled: list[str]  # active jobs no admitted or running step run holds
    resubmitted: list[str]  # admitted step runs' jobs that were not active


def reconcile_on_start(*, executor: Executor, now: datetime) -> Reconciled:
    """Compare the executor's active jobs with the database (the watcher does this as it starts).

    1. An active job that no admitted or running step run holds is cancelled: its run was
       cancelled, or its step failed for good, while nobody was there to stop it.
    2. An admitted step run whose job is not active is resubmitted (at once, no grace): the job
       never got created, or it finished unseen, and then "already exists" changes nothing.

    The jobs are listed *before* the database is read: dispatch commits an admission before it
    creates the job, so every job listed has its step run visible here, and a job created after
    the listing is not mistaken for an orphan.
    """
    active = set(executor.list_active())
    held = set(StepRun.objects.filter(status__in=states.STEP_ACTIVE, handle__in=active)
               .values_list("handle", flat=True))
    orphans = sorted(active - held)
    for handle in orphans:
        log.info("cancelling %s: no admitted or running step run holds it", handle)
        executor.cancel(handle)
    missing = StepRun.objects.filter(status=states.ADMITTED).exclude(handle__in=active)
    return Reconciled(cancelled=orphans, resubmitted=_resubmit(missing, executor=executor, now=now))


def _resubmit(step_runs, *, executor: Executor, now: datetime) -> list[str]:
    jobs = [(sr.pk, _job_for(sr, sr.run, executor)) for sr in step_runs.select_related("run", "team")]
    submit_jobs(jobs, executor=executor, now=now)
    return [job.name for _, job in jobs]


def _log_path(executor: Executor, job: JobSpec) -> str:
    where = getattr(executor, "log_path", None)  # optional in the interface: see base.Executor
    return where(job) if where is not None else job.log_path


def _job_for(sr: StepRun, run: Run, executor: Executor) -> JobSpec:
    step = spec_from_dict(run.spec).step(sr.step_name)
    return job_spec_for(run_id=run.pk, team=sr.team.name, step=step, attempt=sr.attempt,
                        workdir=executor.workdir(run.pk), parameters=run.parameters)
