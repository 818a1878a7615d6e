"""Preemption that loses no work, at the level of dispatch, watcher, services and executor.

Two teams share a cohort: team "a" may borrow what team "b" does not use, and team "b" takes it
back by preemption when it has work queued. The dispatcher decides and tells the executor to
stop the borrowed job; the step run holds its resources until the job has ended (the watcher's
event), then goes back to the queue as the same attempt, in its old place in line, and its next
admission is a job of its own. The executor here is an in-memory one of our own interface that
records what it is told; the local executor's SIGTERM-then-kill runs real processes below.
"""
from __future__ import annotations

import os
import signal
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import pytest

from pipelines import services, states
from pipelines.models import Run, StepRun, StepRunEvent
from scheduling.core.types import Capacity, Decision
from scheduling.dispatch import dispatch_once
from scheduling.executors.base import EXITED, FAILED, STARTED, ExecutorEvent, JobSpec
from scheduling.executors.local import LocalExecutor
from scheduling.jobspec import MAX_JOB_NAME, job_name, job_spec_for
from scheduling.models import Cluster, Cohort, Quota
from scheduling.watcher import record_event
from tests.builders import spec, step
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db

GRACE_S = 7.0


class StoppingExecutor:
    """Jobs in a dict; ``preempted`` lists each (handle, grace_s) it was told to stop."""

    def __init__(self, cpu: float = 4):
        self.total = Capacity(cpu=cpu, memory_mb=65536, gpu=0)
        self.jobs: dict[str, JobSpec] = {}
        self.submitted: list[JobSpec] = []
        self.preempted: list[tuple[str, float]] = []

    def workdir(self, run_id: int) -> str:
        return f"/srv/trellis/runs/{run_id}"

    def submit(self, spec: JobSpec) -> str:
        self.submitted.append(spec)
        self.jobs.setdefault(spec.name, spec)
        return spec.name

    def cancel(self, handle: str) -> None:
        self.jobs.pop(handle, None)

    def preempt(self, handle: str, grace_s: float) -> None:
        self.preempted.append((handle, grace_s))

    def watch(self, since: str | None) -> Iterator[ExecutorEvent | None]:
        return iter(())

    def list_active(self) -> list[str]:
        return sorted(self.jobs)

    def capacity(self) -> Capacity:
        return self.total


@pytest.fixture
def teams(make_team):
    """Teams "a" and "b", 2 cpu each, lending to each other in the cohort "lab"."""
    a, b = make_team("a", cpu=2), make_team("b", cpu=2)
    Quota.objects.filter(team__in=[a, b]).update(cohort=Cohort.objects.create(name="lab"))
    Cluster.objects.update_or_create(name="default", defaults={"policy": "fifo", "preemption_grace_s": GRACE_S})
    return a, b


def submit(make_pipeline, team, now: datetime, *, name: str, cpu: float, preemptible: bool = False,
           retries: int = 0) -> StepRun:
    pipeline = make_pipeline(spec(step("train", resources={"cpu": cpu, "memory_mb": 64}, preemptible=preemptible,
                                       retries=retries)), team=team, name=name)
    run = services.submit_run(pipeline, user=None, now=now)
    return StepRun.objects.get(run=run)


def dispatch(executor: StoppingExecutor, now: datetime) -> Decision:
    return dispatch_once(executor=executor, policy="fifo", now=now)


def fresh(sr: StepRun) -> StepRun:
    return StepRun.objects.get(pk=sr.pk)


def started(handle: str) -> ExecutorEvent:
    return ExecutorEvent(handle, STARTED, "1", node="local")


def exited(handle: str, code: int) -> ExecutorEvent:
    return ExecutorEvent(handle, EXITED, "2", exit_code=code, reason="" if code == 0 else f"exited with code {code}")


def events(sr: StepRun) -> list[tuple[int, str]]:
    return list(StepRunEvent.objects.filter(step_run_id=sr.pk).order_by("seq").values_list("attempt", "to_status"))


def borrowing_and_preempted(make_pipeline, teams, now) -> tuple[StepRun, StepRun, StoppingExecutor]:
    """Team a's preemptible 3-cpu step runs on borrowed quota; team b then submits 2 cpu, and a
    dispatch preempts a's step. Returns (a's step run, b's step run, the executor)."""
    a, b = teams
    executor = StoppingExecutor(cpu=4)
    borrower = submit(make_pipeline, a, now, name="borrower", cpu=3, preemptible=True)
    dispatch(executor, now)
    record_event(started(fresh(borrower).handle), now=now)
    lender = submit(make_pipeline, b, now + timedelta(minutes=1), name="lender", cpu=2)
    dispatch(executor, now + timedelta(minutes=2))
    return fresh(borrower), fresh(lender), executor


# -- dispatch: what is recorded and what the executor is told ---------------------------------


def test_a_step_admitted_beyond_its_teams_quota_is_recorded_as_borrowed_and_counted(make_pipeline, teams, now):
    a, _ = teams
    borrower = submit(make_pipeline, a, now, name="borrower", cpu=3, preemptible=True)
    modest = submit(make_pipeline, a, now + timedelta(seconds=1), name="modest", cpu=1, preemptible=True)
    executor = StoppingExecutor(cpu=8)

    dispatch(executor, now + timedelta(seconds=2))

    # the 3-cpu step came first but fits only by borrowing, so it is put off: the 1-cpu step takes
    # half of a's nominal 2 cpu, then the 3-cpu step gets the other cpu and borrows 2
    assert [(fresh(s).status, fresh(s).is_borrowed, fresh(s).admissions) for s in (borrower, modest)] == [
        ("admitted", True, 1), ("admitted", False, 1)]


def test_a_step_within_its_teams_quota_is_not_borrowed(make_pipeline, teams, now):
    a, _ = teams
    modest = submit(make_pipeline, a, now, name="modest", cpu=2, preemptible=True)

    dispatch(StoppingExecutor(cpu=8), now)

    assert (fresh(modest).status, fresh(modest).is_borrowed, fresh(modest).admissions) == ("admitted", False, 1)


def test_the_lender_submitting_preempts_the_borrowed_step_with_the_clusters_grace(make_pipeline, teams, now):
    borrower, lender, executor = borrowing_and_preempted(make_pipeline, teams, now)

    assert (borrower.status, borrower.attempt, borrower.handle) == ("preempted", 1, f"trellis-{borrower.run_id}-train-1")
    assert "team b reclaims its nominal quota" in borrower.reason
    assert executor.preempted == [(borrower.handle, GRACE_S)]
    assert lender.status == "queued"  # the room is not free until the borrowed job has ended


def test_a_preempted_step_holds_its_resources_and_is_not_preempted_again_until_its_job_ended(
        make_pipeline, teams, now):
    borrower, lender, executor = borrowing_and_preempted(make_pipeline, teams, now)

    decision = dispatch(executor, now + timedelta(minutes=3))

    assert (fresh(borrower).status, fresh(lender).status) == ("preempted", "queued")
    assert decision.admitted == () and decision.preempted == {}
    assert executor.preempted == [(borrower.handle, GRACE_S)]


def test_when_the_preempted_job_ends_the_same_attempt_is_queued_in_its_old_place_and_the_lender_runs(
        make_pipeline, teams, now):
    borrower, lender, executor = borrowing_and_preempted(make_pipeline, teams, now)
    first_queued_at = borrower.queued_at

    assert record_event(exited(borrower.handle, 143), now=now + timedelta(minutes=3))
    requeued = fresh(borrower)
    dispatch(executor, now + timedelta(minutes=4))

    assert (requeued.status, requeued.attempt, requeued.max_attempts) == ("queued", 1, 1)
    assert (requeued.queued_at, requeued.handle, requeued.exit_code) == (first_queued_at, "", None)
    assert requeued.reason.startswith("preempted (team b reclaims its nominal quota")
    assert requeued.reason.endswith("once its job ended: exited with code 143")
    assert fresh(lender).status == "admitted"
    assert events(borrower) == [(1, "queued"), (1, "admitted"), (1, "running"), (1, "preempted"), (1, "queued")]


@pytest.mark.parametrize("ending", [
    exited("", 0), exited("", 143), ExecutorEvent("", FAILED, "2", reason="killed: still running 7 s after SIGTERM"),
], ids=["it exits 0", "it exits 143 on SIGTERM", "it is killed after the grace period"])
def test_a_preempted_jobs_end_is_never_a_failure_nor_a_retry(make_pipeline, teams, now, ending):
    a, b = teams
    executor = StoppingExecutor(cpu=4)
    borrower = submit(make_pipeline, a, now, name="borrower", cpu=3, preemptible=True, retries=2)
    dispatch(executor, now)
    record_event(started(fresh(borrower).handle), now=now)
    submit(make_pipeline, b, now, name="lender", cpu=2)
    dispatch(executor, now)

    record_event(ExecutorEvent(fresh(borrower).handle, ending.kind, "3", exit_code=ending.exit_code,
                               reason=ending.reason), now=now)

    after = fresh(borrower)
    assert (after.status, after.attempt, after.max_attempts) == ("queued", 1, 3)
    assert "failed" not in [to for _, to in events(borrower)]
    assert Run.objects.get(pk=after.run_id).status == "running"


def test_readmitted_after_preemption_the_step_gets_a_job_of_its_own_and_old_events_move_nothing(
        make_pipeline, teams, now):
    borrower, lender, executor = borrowing_and_preempted(make_pipeline, teams, now)
    old_job = borrower.handle
    record_event(exited(old_job, 143), now=now)
    dispatch(executor, now)  # the lender is admitted; the borrower waits for room
    record_event(started(fresh(lender).handle), now=now)
    record_event(exited(fresh(lender).handle, 0), now=now)

    dispatch(executor, now + timedelta(minutes=5))

    again = fresh(borrower)
    assert (again.status, again.attempt, again.admissions) == ("admitted", 1, 2)
    assert again.handle == f"trellis-{again.run_id}-train-1-r2" != old_job
    assert [j.name for j in executor.submitted if j.run_id == again.run_id] == [old_job, again.handle]
    # the old job's events, replayed or late, never move the new admission
    assert not record_event(exited(old_job, 0), now=now)
    assert not record_event(started(old_job), now=now)
    assert fresh(borrower).status == "admitted"
    record_event(started(again.handle), now=now)
    record_event(exited(again.handle, 0), now=now)
    assert fresh(borrower).status == "succeeded"
    assert events(borrower) == [(1, "queued"), (1, "admitted"), (1, "running"), (1, "preempted"), (1, "queued"),
                                (1, "admitted"), (1, "running"), (1, "succeeded")]


def test_a_preempted_step_keeps_its_place_ahead_of_work_submitted_after_it(make_pipeline, teams, now):
    a, b = teams
    executor = StoppingExecutor(cpu=4)
    borrower = submit(make_pipeline, a, now, name="borrower", cpu=3, preemptible=True)
    dispatch(executor, now)
    record_event(started(fresh(borrower).handle), now=now)
    later = submit(make_pipeline, a, now + timedelta(minutes=1), name="later", cpu=1)  # waits: a's quota is full
    submit(make_pipeline, b, now + timedelta(minutes=2), name="lender", cpu=2)
    dispatch(executor, now + timedelta(minutes=3))
    record_event(exited(fresh(borrower).handle, 143), now=now + timedelta(minutes=4))

    decision = dispatch(executor, now + timedelta(minutes=5))

    assert fresh(borrower).queued_at == now < fresh(later).queued_at
    assert decision.order.index(borrower.pk) < decision.order.index(later.pk)


def test_cancelling_a_run_whose_step_is_preempted_cancels_it_and_the_jobs_end_changes_nothing(
        make_pipeline, teams, now):
    borrower, _, _ = borrowing_and_preempted(make_pipeline, teams, now)

    assert services.cancel_run(borrower.run_id, now=now)
    assert not record_event(exited(borrower.handle, 143), now=now)

    assert fresh(borrower).status == "cancelled"
    assert Run.objects.get(pk=borrower.run_id).status == "cancelled"


# -- job names and the checkpoint directory -------------------------------------------------


def test_each_admission_after_the_first_has_its_own_deterministic_dns_safe_job_name():
    long_step = "a-very-long-step-name-that-goes-on-and-on-" * 3
    names = [job_name(123456789, s, 99, admission) for s in ("train", long_step) for admission in (1, 2, 3)]

    assert names[:3] == ["trellis-123456789-train-99", "trellis-123456789-train-99-r2", "trellis-123456789-train-99-r3"]
    assert len(set(names)) == len(names)
    assert all(len(n) <= MAX_JOB_NAME and n == n.lower() and n[0].isalnum() and n[-1].isalnum() for n in names)
    assert names == [job_name(123456789, s, 99, admission) for s in ("train", long_step) for admission in (1, 2, 3)]
    # an attempt is digits only, so a readmission never takes the name of another step's attempt
    assert job_name(1, "a", 1, 2) not in {job_name(1, "a-1", 2), job_name(1, "a-1-r", 2)}


def test_the_checkpoint_directory_is_the_same_for_every_attempt_and_admission_inside_the_runs_workdir():
    train = step("train")
    jobs = [job_spec_for(run_id=7, team="a", step=train, attempt=attempt, workdir="/runs/7", parameters={},
                         admission=admission) for attempt in (1, 2) for admission in (1, 2)]

    assert {j.env["TRELLIS_CHECKPOINT_DIR"] for j in jobs} == {"/runs/7/checkpoints/train"}
    assert all("/runs/7/checkpoints/train" in j.artifact_dirs for j in jobs)  # made before the job starts
    assert len({j.name for j in jobs}) == 4


# -- the local executor: SIGTERM first, kill after the grace --------------------------------

STEP = textwrap.dedent("""
    import os, signal, sys, time
    marks = os.path.join(os.environ["TRELLIS_CHECKPOINT_DIR"], "marks")
    def on_term(*_):
        with open(marks, "a") as f:
            f.write("sigterm\\n")
        if sys.argv[1] == "checkpoint":
            sys.exit(143)
    signal.signal(signal.SIGTERM, on_term)
    with open(marks, "a") as f:
        f.write("started\\n")
    while True:
        time.sleep(0.05)
""")


@pytest.fixture
def local(tmp_path):
    executor = LocalExecutor(state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", cpu=2, memory_mb=1024,
                             grace_s=60)  # the cancel grace: preemption must use its own
    yield executor
    for handle in executor.list_active():
        pid = executor._read_job(executor.jobs_dir / f"{handle}.json").get("pid")
        if pid:
            os.killpg(pid, signal.SIGKILL)


def local_job(executor: LocalExecutor, behaviour: str) -> JobSpec:
    job = job_spec_for(run_id=1, team="a", step=step("train", command=[sys.executable, "-c", STEP, behaviour]),
                       attempt=1, workdir=executor.workdir(1), parameters={})
    executor.submit(job)
    return job


def ends(executor: LocalExecutor, handle: str) -> list[ExecutorEvent]:
    seen: list[ExecutorEvent] = []
    for event in executor.watch(None):
        if event is not None and event.handle == handle:
            seen.append(event)
            if event.kind in (EXITED, FAILED):
                return seen


def marks(job: JobSpec) -> list[str]:
    path = Path(job.env["TRELLIS_CHECKPOINT_DIR"]) / "marks"
    return path.read_text().split() if path.exists() else []


def test_a_preempted_local_job_gets_sigterm_and_its_own_exit_is_reported(local):
    job = local_job(local, "checkpoint")
    wait_until(lambda: marks(job) == ["started"], what="the step to start")

    local.preempt(job.name, grace_s=30)

    seen = ends(local, job.name)
    assert [(e.kind, e.exit_code) for e in seen] == [(STARTED, None), (EXITED, 143)]
    assert marks(job) == ["started", "sigterm"]
    assert job.name not in local.list_active()


def test_a_local_job_that_outlives_its_preemption_grace_is_killed_after_sigterm(local):
    job = local_job(local, "ignore")
    wait_until(lambda: marks(job) == ["started"], what="the step to start")

    local.preempt(job.name, grace_s=0.3)

    seen = ends(local, job.name)
    assert seen[-1].kind == FAILED and seen[-1].reason == "killed: still running 0.3 s after SIGTERM"
    assert marks(job) == ["started", "sigterm"]  # it was told first
    wait_until(lambda: job.name not in local.list_active(), what="the killed job to be gone")
