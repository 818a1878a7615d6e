"""dispatch_once(): the one place that reads the database, asks the core and calls an executor.

Read, decide with pure code, write in one short transaction, then talk to the executor. Job
names are deterministic, so a repeated submit after a crash is a harmless "already exists";
``reconcile`` resubmits admitted step runs whose job never appeared.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction

from pipelines import services, states
from pipelines.models import Run, StepRun
from pipelines.spec import PipelineSpec, spec_from_dict

from . import clusters, core
from .executors.base import Executor, JobSpec
from .jobspec import job_spec_for
from .models import Cluster, DispatchCursor, SchedulingDecision

log = logging.getLogger(__name__)

LOCK_NAME = "dispatch-lock"
SUBMITTERS = 8  # jobs submitted at once by one dispatch, for executors that allow it


def lock_dispatcher() -> None:
    """One dispatcher at a time: a row lock on PostgreSQL; SQLite's IMMEDIATE transactions already
    serialise writers."""
    DispatchCursor.objects.select_for_update().get_or_create(name=LOCK_NAME)


def dispatch_once(*, executor: Executor, policy: str | None = None, now: datetime) -> core.Decision:
    """One decision under ``policy`` (default: the cluster's), with the cluster's half-life."""
    capacity = executor.capacity()  # 1. ask the executor, outside any transaction
    cluster = clusters.current()
    chosen = clusters.policy_of(cluster, policy)
    if not StepRun.objects.filter(status=states.QUEUED).exists():  # nothing waits: nothing to decide
        return core.Decision(policy=chosen.name)  # (a request that an earlier dispatch served already)
    with transaction.atomic():
        lock_dispatcher()  # 2. one dispatcher at a time
        started = time.perf_counter()
        snap = clusters.snapshot_for(chosen, capacity=capacity, now=now)
        decision = core.admit(snap, policy=chosen, now=now)  # 3. decide, purely
        duration_ms = (time.perf_counter() - started) * 1000
        jobs = record_admissions(decision, executor=executor, now=now)  # 4. conditional updates
        stopping = record_preemptions(decision, now=now)
        fail_impossible(decision, now=now)
        record_decision(cluster, decision, admitted=[pk for pk, _ in jobs], waiting=len(snap.waiting),
                        duration_ms=duration_ms, now=now)
    preempt_jobs(stopping, executor=executor, grace_s=cluster.preemption_grace_s)  # 5. act after commit
    submit_jobs(jobs, executor=executor, now=now)
    return decision


def record_decision(cluster: Cluster, decision: core.Decision, *, admitted: list[int], waiting: int,
                    duration_ms: float, now: datetime) -> None:
    """Keep a dispatch that admitted or preempted something, with the policy that decided it."""
    if admitted or decision.preempted:
        preempted = {str(k): why for k, why in decision.preempted.items()}
        SchedulingDecision.objects.create(cluster=cluster, at=now, policy=decision.policy, waiting=waiting,
                                          admitted=admitted, preempted=preempted, duration_ms=duration_ms)


def record_admissions(decision: core.Decision, *, executor: Executor, now: datetime) -> list[tuple[int, JobSpec]]:
    """Move admitted step runs queued -> admitted; those that lost a race drop out.

    Each admission counts (``admissions``): a preempted attempt admitted again gets a job name of
    its own. ``is_borrowed``: admitted beyond its team's nominal quota, so reclaimable.
    """
    if not decision.admitted:
        return []
    is_borrowed = {a.step_run_id: a.is_borrowed for a in decision.placements}
    rows = {sr.pk: sr for sr in StepRun.objects.filter(pk__in=decision.admitted).select_related("team")}
    runs = {r.pk: r for r in Run.objects.filter(pk__in={sr.run_id for sr in rows.values()}).defer("spec")}
    jobs = []
    for step_run_id in decision.admitted:
        sr = rows[step_run_id]
        job = _job_for(sr, runs[sr.run_id], executor, admission=sr.admissions + 1)
        if services.transition(sr.pk, to=states.ADMITTED, expected=states.QUEUED, attempt=sr.attempt, now=now,
                               reason=f"admitted by {decision.policy}", handle=job.name,
                               log_path=_log_path(executor, job), admissions=sr.admissions + 1,
                               is_borrowed=is_borrowed.get(sr.pk, False)):
            jobs.append((sr.pk, job))
    return jobs


def record_preemptions(decision: core.Decision, *, now: datetime) -> list[str]:
    """Move the step runs the core preempts running -> preempted, with its reason; return the
    handles of their jobs, to be stopped after commit. A preempted step run keeps its handle and
    its resources until its job has ended (the watcher then queues it again). One that is no
    longer running (it ended, or is still only admitted) is left alone: the next dispatch decides
    again."""
    handles = []
    rows = StepRun.objects.filter(pk__in=list(decision.preempted), status=states.RUNNING)
    for sr in rows.only("id", "attempt", "handle"):
        if services.transition(sr.pk, to=states.PREEMPTED, expected=states.RUNNING, attempt=sr.attempt, now=now,
                               reason=decision.preempted[sr.pk]):
            handles.append(sr.handle)
    return handles


def preempt_jobs(handles: list[str], *, executor: Executor, grace_s: float) -> None:
    """Tell each job to stop: SIGTERM, then kill after ``grace_s`` (the cluster's grace period). A
    refusal is logged; the step run stays preempted until its job is seen to end."""
    for handle in handles:
        try:
            executor.preempt(handle, grace_s)
        except Exception as exc:
            log.error("could not preempt %s: %s", handle, exc)


def fail_impossible(decision: core.Decision, *, now: datetime) -> None:
    for step_run_id, why in decision.impossible.items():
        services.transition(step_run_id, to=states.FAILED, expected=states.QUEUED, now=now,
                            reason=f"cannot be scheduled: {why}", allow_retry=False)


def submit_jobs(jobs: list[tuple[int, JobSpec]], *, executor: Executor, now: datetime) -> None:
    errors = _submit_all(executor, [job for _, job in jobs])
    for (step_run_id, job), exc in zip(jobs, errors):
        if exc is not None:  # the step fails (and may retry); the dispatcher goes on
            log.error("could not start %s: %s", job.name, exc)
            services.transition(step_run_id, to=states.FAILED, expected=states.ADMITTED, attempt=job.attempt,
                                now=now, reason=f"could not start: {exc}")


def _submit_all(executor: Executor, jobs: list[JobSpec]) -> list[Exception | None]:
    """Submit each job; for each, the error that kept it from starting, or None. Several at once
    where the executor allows it (``is_submit_concurrent``: a cluster answers in parallel)."""
    if len(jobs) > 1 and getattr(executor, "is_submit_concurrent", False):
        with ThreadPoolExecutor(max_workers=min(SUBMITTERS, len(jobs)), thread_name_prefix="submit") as pool:
            return list(pool.map(lambda job: _submit(executor, job), jobs))
    return [_submit(executor, job) for job in jobs]


def _submit(executor: Executor, job: JobSpec) -> Exception | None:
    try:
        executor.submit(job)
    except Exception as exc:
        return exc
    return None


def reconcile(*, executor: Executor, now: datetime, grace_s: float) -> int:
    """Resubmit step runs admitted more than ``grace_s`` ago whose job may never have been created
    (a worker died between commit and submit). Submitting is idempotent. Returns how many."""
    stale = StepRun.objects.filter(status=states.ADMITTED, admitted_at__lt=now - timedelta(seconds=grace_s))
    count = len(_resubmit(stale, executor=executor, now=now))
    release_volumes(executor=executor, now=now)  # the same periodic safety net ends the runs' volumes
    return count


@dataclass(frozen=True)
class Reconciled:
    cancelled: list[str]  # active jobs no admitted or running step run holds
    resubmitted: list[str]  # admitted step runs' jobs that were not active
    vanished: list[str] = field(default_factory=list)  # running step runs' jobs gone altogether (failed)


def reconcile_on_start(*, executor: Executor, now: datetime) -> Reconciled:
    """Compare the executor's active jobs with the database (the watcher does this as it starts).

    1. An active job that no admitted, running or preempted step run holds is cancelled: its run was
       cancelled, or its step failed for good, while nobody was there to stop it.
    2. An admitted step run whose job is not active is resubmitted (at once, no grace): the job
       never got created, or it finished unseen, and then "already exists" changes nothing.

    3. A running step run whose job the executor holds no longer, finished or not (deleted, or
       removed after it finished, while nobody watched and the history was compacted), fails:
       its outcome is unknown. Its retries and dependents then go as for any failure. (Only for
       executors that can list finished jobs too: ``list_jobs``.) A preempted step run whose job is
       gone likewise goes back to the queue, as if its end had been seen.

    The jobs are listed *before* the database is read: dispatch commits an admission before it
    creates the job, so every job listed has its step run visible here, and a job created after
    the listing is not mistaken for an orphan.
    """
    list_jobs = getattr(executor, "list_jobs", None)
    every = set(list_jobs()) if list_jobs is not None else None
    active = set(executor.list_active())
    held = set(StepRun.objects.filter(status__in=states.STEP_HOLDING, handle__in=active)
               .values_list("handle", flat=True))
    orphans = sorted(active - held)
    for handle in orphans:
        log.info("cancelling %s: no admitted or running step run holds it", handle)
        executor.cancel(handle)
    missing = StepRun.objects.filter(status=states.ADMITTED).exclude(handle__in=active)
    resubmitted = _resubmit(missing, executor=executor, now=now)
    vanished = []
    if every is not None:
        for sr in StepRun.objects.filter(status=states.RUNNING).exclude(handle__in=every).only("id", "attempt", "handle"):
            if services.transition(sr.pk, to=states.FAILED, expected=states.RUNNING, attempt=sr.attempt, now=now,
                                   reason=f"its job {sr.handle} vanished while the watcher was away; "
                                          "its outcome is unknown"):
                vanished.append(sr.handle)
        for sr in StepRun.objects.filter(status=states.PREEMPTED).exclude(handle__in=every).only("id", "attempt"):
            services.requeue_preempted(sr.pk, attempt=sr.attempt, now=now, ended="its job is gone")
    return Reconciled(cancelled=orphans, resubmitted=resubmitted, vanished=vanished)


def release_volumes(*, executor: Executor, now: datetime) -> list[int]:
    """Remove the artifact volumes of runs that have been final for longer than the executor's
    retention period (executors with volumes of their own only: ``volume_runs``)."""
    volume_runs = getattr(executor, "volume_runs", None)
    if volume_runs is None:
        return []
    held = volume_runs()
    runs = dict(Run.objects.filter(pk__in=held).values_list("pk", "status"))
    finished_at = dict(Run.objects.filter(pk__in=held, status__in=states.RUN_FINAL).values_list("pk", "finished_at"))
    finished_at.update({run_id: None for run_id in held if run_id not in runs})  # the run was deleted
    return executor.release_volumes(finished_at, now=now)


def _resubmit(step_runs, *, executor: Executor, now: datetime) -> list[str]:
    jobs = [(sr.pk, _job_for(sr, sr.run, executor)) for sr in step_runs.select_related("run", "team")]
    submit_jobs(jobs, executor=executor, now=now)
    return [job.name for _, job in jobs]


def _log_path(executor: Executor, job: JobSpec) -> str:
    where = getattr(executor, "log_path", None)  # optional in the interface: see base.Executor
    return where(job) if where is not None else job.log_path


_parsed_specs: dict[tuple[int, datetime], PipelineSpec] = {}


def _run_spec(run: Run) -> PipelineSpec:
    """The run's spec, parsed once per process: a run's spec never changes (it is a snapshot),
    and reading and parsing a long pipeline's for every step admitted cost milliseconds per step
    (so the spec is read, if deferred, only here). Keyed by creation time too, as a flushed test
    database hands out ids again."""
    key = (run.pk, run.created_at)
    if key not in _parsed_specs:
        if len(_parsed_specs) >= 256:
            _parsed_specs.clear()
        _parsed_specs[key] = spec_from_dict(run.spec)
    return _parsed_specs[key]


def _job_for(sr: StepRun, run: Run, executor: Executor, admission: int | None = None) -> JobSpec:
    """The job of the step run's current admission (or of ``admission``, the one being made)."""
    step = _run_spec(run).step(sr.step_name)
    return job_spec_for(run_id=run.pk, team=sr.team.name, step=step, attempt=sr.attempt,
                        workdir=executor.workdir(run.pk), parameters=run.parameters,
                        admission=admission or max(1, sr.admissions))
