"""scheduling.dispatch: what dispatch_once admits, what it hands the executor, what it fails.

The executor is an in-memory fake of our own Executor interface (the real LocalExecutor has a
contract test of its own): it keeps the jobs it was given by name, so a repeated submit is an
"already exists", and reports the capacity the test sets.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

import pytest

from pipelines import services, states
from pipelines.models import Run, StepRun
from pipelines.spec import PipelineSpec
from scheduling.core.types import Capacity, Decision, Request
from scheduling.dispatch import dispatch_once, reconcile
from scheduling.executors.base import ExecutorEvent, JobSpec
from tests.builders import spec, step

pytestmark = pytest.mark.django_db

WORKDIRS = "/srv/trellis/runs"


class MemoryExecutor:
    """Jobs in a dict; ``submitted`` lists every submit in order, repeats included."""

    def __init__(self, cpu: float = 64, memory_mb: int = 262144, gpu: int = 0, largest_node: Request | None = None):
        self.total = Capacity(cpu=cpu, memory_mb=memory_mb, gpu=gpu, largest_node=largest_node)
        self.jobs: dict[str, JobSpec] = {}
        self.submitted: list[JobSpec] = []
        self.refusal: Exception | None = None  # raised by submit when set

    def workdir(self, run_id: int) -> str:
        return f"{WORKDIRS}/{run_id}"

    def submit(self, spec: JobSpec) -> str:
        self.submitted.append(spec)
        if self.refusal is not None:
            raise self.refusal
        self.jobs.setdefault(spec.name, spec)  # a second submit of a name is "already exists"
        return spec.name

    def cancel(self, handle: str) -> None:
        self.jobs.pop(handle, None)

    def watch(self, since: str | None) -> Iterator[ExecutorEvent | None]:
        return iter(())

    def list_active(self) -> list[str]:
        return sorted(self.jobs)

    def capacity(self) -> Capacity:
        return self.total


@pytest.fixture(autouse=True)
def backoff_5_s(settings):
    settings.TRELLIS_RETRY_BACKOFF_S = 5
    settings.TRELLIS_RETRY_BACKOFF_MAX_S = 300


def submit(pipeline, now: datetime, **kwargs) -> Run:
    return services.submit_run(pipeline, user=None, now=now, **kwargs)


def dispatch(executor: MemoryExecutor, now: datetime) -> Decision:
    return dispatch_once(executor=executor, policy="fifo", now=now)


def step_run(run: Run, name: str) -> StepRun:
    return StepRun.objects.get(run=run, step_name=name)


def statuses(run: Run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("step_name", "status"))


def three_steps(cpu: float = 1, **fields) -> PipelineSpec:
    return spec(*(step(name, resources={"cpu": cpu}, **fields) for name in ("first", "second", "third")))


# -- what is admitted ------------------------------------------------------------------------


def test_queued_steps_are_admitted_in_order_until_the_team_quota_is_full(make_pipeline, make_team, now):
    run = submit(make_pipeline(three_steps(cpu=1), team=make_team("vision", cpu=2)), now)

    decision = dispatch(MemoryExecutor(), now)

    assert statuses(run) == {"first": "admitted", "second": "admitted", "third": "queued"}
    assert decision.blocked == {step_run(run, "third").pk: "team vision: cpu 2 of 2 in use, asks 1"}


def test_steps_are_admitted_by_the_time_they_became_ready_not_by_their_id(make_pipeline, make_team, now):
    team = make_team("vision", cpu=1)
    late = submit(make_pipeline(spec(step("late")), team=team, name="late"), now + timedelta(minutes=1))
    early = submit(make_pipeline(spec(step("early")), team=team, name="early"), now)

    dispatch(MemoryExecutor(), now + timedelta(minutes=2))

    assert (statuses(early), statuses(late)) == ({"early": "admitted"}, {"late": "queued"})


def test_what_does_not_fit_in_the_cluster_waits_with_the_cluster_as_reason(make_pipeline, make_team, now):
    run = submit(make_pipeline(three_steps(cpu=1), team=make_team("vision", cpu=8)), now)

    decision = dispatch(MemoryExecutor(cpu=2), now)

    assert statuses(run) == {"first": "admitted", "second": "admitted", "third": "queued"}
    assert decision.blocked == {step_run(run, "third").pk: "cluster: cpu 2 of 2 in use, asks 1"}


def test_one_team_with_a_full_quota_does_not_block_another_team(make_pipeline, make_team, now):
    vision = submit(make_pipeline(three_steps(cpu=1), team=make_team("vision", cpu=1)), now)
    nlp = submit(make_pipeline(spec(step("tokenize")), team=make_team("nlp", cpu=4)), now + timedelta(seconds=1))

    dispatch(MemoryExecutor(), now + timedelta(seconds=2))

    assert statuses(vision) == {"first": "admitted", "second": "queued", "third": "queued"}
    assert statuses(nlp) == {"tokenize": "admitted"}


# -- what the executor is given --------------------------------------------------------------


def test_an_admitted_step_gets_a_job_with_its_name_environment_and_paths(make_pipeline, now):
    pipeline = make_pipeline(spec(
        step("prepare", outputs=["dataset"]),
        step("train", image="trellis/train:3", command=["python", "train.py"], env={"EPOCHS": "3"},
             inputs={"data": "prepare.dataset"}, outputs=["model"], resources={"cpu": 2, "memory_mb": 4096},
             timeout_s=600),
    ))
    run = submit(pipeline, now, parameters={"learning-rate": 0.1})
    executor = MemoryExecutor()
    dispatch(executor, now)
    for to in (states.RUNNING, states.SUCCEEDED):
        services.transition(step_run(run, "prepare").pk, to=to, now=now)

    dispatch(executor, now)

    job = executor.submitted[-1]
    workdir = f"{WORKDIRS}/{run.pk}"
    assert (job.name, job.step, job.attempt, job.team) == (f"trellis-{run.pk}-train-1", "train", 1, "vision")
    assert (job.image, job.command, job.cpu, job.memory_mb, job.timeout_s) == (
        "trellis/train:3", ("python", "train.py"), 2, 4096, 600)
    assert job.env == {
        "EPOCHS": "3",
        "TRELLIS_RUN_ID": str(run.pk),
        "TRELLIS_STEP": "train",
        "TRELLIS_ATTEMPT": "1",
        "TRELLIS_WORKDIR": workdir,
        "TRELLIS_CHECKPOINT_DIR": f"{workdir}/checkpoints/train",
        "TRELLIS_CPUS": "2",
        "TRELLIS_INPUT_DATA": f"{workdir}/artifacts/prepare/dataset",
        "TRELLIS_OUTPUT_MODEL": f"{workdir}/artifacts/train/model",
        "TRELLIS_PARAM_LEARNING_RATE": "0.1",
    }
    assert (job.workdir, job.log_path) == (workdir, f"{workdir}/logs/train.1.log")
    sr = step_run(run, "train")
    assert (sr.status, sr.handle, sr.log_path, sr.admitted_at) == ("admitted", job.name, job.log_path, now)
    assert Run.objects.get(pk=run.pk).status == "running"


def test_dispatching_again_admits_and_submits_nothing_twice(make_pipeline, now):
    run = submit(make_pipeline(three_steps(cpu=1)), now)
    executor = MemoryExecutor()
    dispatch(executor, now)

    decision = dispatch(executor, now + timedelta(seconds=1))

    assert decision.admitted == ()
    names = [f"trellis-{run.pk}-{n}-1" for n in ("first", "second", "third")]
    assert sorted(j.name for j in executor.submitted) == names
    assert set(statuses(run).values()) == {"admitted"}


# -- what is failed, and what waits ----------------------------------------------------------


def test_a_step_larger_than_the_largest_node_fails_without_retrying(make_pipeline, make_team, now):
    team = make_team("vision", cpu=32)
    run = submit(make_pipeline(spec(step("train", resources={"cpu": 16}, retries=2)), team=team), now)
    executor = MemoryExecutor(cpu=32, largest_node=Request(8, 65536, 0))

    decision = dispatch(executor, now)

    sr = step_run(run, "train")
    assert (sr.status, sr.attempt) == ("failed", 1)
    assert sr.reason == "cannot be scheduled: asks for 16 cpu but the largest node has 8"
    assert decision.impossible == {sr.pk: "asks for 16 cpu but the largest node has 8"}
    assert executor.submitted == []
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.reason) == ("failed", f"step 'train' failed: {sr.reason}")


@pytest.mark.parametrize(
    ("seconds_later", "expected"),
    [(4, "queued"), (5, "admitted"), (6, "admitted")],
    ids=["before its ready time", "at its ready time", "after its ready time"],
)
def test_a_step_in_retry_backoff_is_admitted_only_once_its_ready_time_came(make_pipeline, now, seconds_later, expected):
    run = submit(make_pipeline(spec(step("train", retries=1))), now)
    executor = MemoryExecutor()
    dispatch(executor, now)
    sr = step_run(run, "train")
    services.transition(sr.pk, to=states.RUNNING, expected=states.ADMITTED, attempt=1, now=now)
    services.transition(sr.pk, to=states.FAILED, expected=states.RUNNING, attempt=1, now=now, reason="oom")

    decision = dispatch(executor, now + timedelta(seconds=seconds_later))

    sr = step_run(run, "train")
    assert (sr.status, sr.attempt) == (expected, 2)
    if expected == "queued":
        assert decision.blocked == {sr.pk: "retry backoff until 2026-12-01T12:00:05+00:00"}
    else:
        assert sr.handle == f"trellis-{run.pk}-train-2"


def test_a_retried_step_keeps_its_place_in_line_once_its_backoff_is_over(make_pipeline, make_team, now):
    team = make_team("vision", cpu=1)
    retried = submit(make_pipeline(spec(step("train", retries=1)), team=team, name="retried"), now)
    executor = MemoryExecutor()
    dispatch(executor, now)
    sr = step_run(retried, "train")
    services.transition(sr.pk, to=states.FAILED, expected=states.ADMITTED, attempt=1, now=now + timedelta(seconds=10),
                        reason="could not start: node lost")  # ready again 5 s later
    newer = submit(make_pipeline(spec(step("train")), team=team, name="newer"), now + timedelta(seconds=12))

    dispatch(executor, now + timedelta(seconds=20))

    assert (statuses(retried), statuses(newer)) == ({"train": "admitted"}, {"train": "queued"})


@pytest.mark.parametrize(
    ("retries", "status", "attempt", "reason"),
    [
        (0, "failed", 1, "could not start: image registry refused the pull"),
        (1, "queued", 2, "retry 2 of 2 in 5 s after: could not start: image registry refused the pull"),
    ],
    ids=["no retries: it fails", "a retry left: it is queued again"],
)
def test_a_job_the_executor_cannot_start_fails_its_step(make_pipeline, now, retries, status, attempt, reason):
    run = submit(make_pipeline(spec(step("train", retries=retries))), now)
    executor = MemoryExecutor()
    executor.refusal = RuntimeError("image registry refused the pull")

    dispatch(executor, now)

    sr = step_run(run, "train")
    assert (sr.status, sr.attempt, sr.reason) == (status, attempt, reason)
    assert executor.jobs == {}


@pytest.mark.parametrize(("seconds_later", "resubmitted"), [(29, 0), (31, 1)],
                         ids=["within the grace", "past the grace"])
def test_reconcile_resubmits_the_same_job_for_steps_admitted_longer_than_the_grace(
        make_pipeline, now, seconds_later, resubmitted):
    run = submit(make_pipeline(spec(step("train"))), now)
    executor = MemoryExecutor()
    dispatch(executor, now)

    count = reconcile(executor=executor, now=now + timedelta(seconds=seconds_later), grace_s=30)

    name = f"trellis-{run.pk}-train-1"
    assert count == resubmitted
    assert [j.name for j in executor.submitted] == [name] * (1 + resubmitted)
    assert list(executor.jobs) == [name]
    assert (step_run(run, "train").status, step_run(run, "train").handle) == ("admitted", name)
