"""scheduling.dispatch.reconcile_on_start, what the watcher does as it starts, against both real
executors: local processes, and Jobs on the fake cluster through the real client over HTTP."""
from __future__ import annotations


import pytest

from pipelines import services
from pipelines.models import Run, StepRun
from scheduling.dispatch import dispatch_once, reconcile_on_start
from scheduling.executors.local import LocalExecutor
from tests.builders import spec, step
from tests.conftest import wait_until
from tests.fakes.kube import FakeCluster, Outcome
from tests.fakes.kube_executor import executor_for

pytestmark = pytest.mark.django_db

FOREVER = ("sh", "-c", "sleep 60")


@pytest.fixture(params=["local", "kubernetes"])
def executor(request, tmp_path):
    if request.param == "local":
        local = LocalExecutor(state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", cpu=8, memory_mb=65536,
                              grace_s=0.5)
        yield local
        for handle in local.list_active():
            local.cancel(handle)
        return
    with FakeCluster(default=Outcome.hang()) as cluster:
        yield executor_for(cluster)


class Dropping:
    """The executor as seen by a worker that dies before it creates the jobs named in ``lost``."""

    def __init__(self, executor, lost: str):
        self.executor, self.lost = executor, lost

    def submit(self, job):
        return job.name if self.lost in job.name else self.executor.submit(job)

    def __getattr__(self, name):
        return getattr(self.executor, name)


def two_steps(make_pipeline, now) -> Run:
    pipeline = make_pipeline(spec(step("a", command=FOREVER), step("b", command=FOREVER)))
    return services.submit_run(pipeline, user=None, now=now)


def handles(run: Run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("step_name", "handle"))


def test_a_job_whose_run_was_cancelled_unseen_is_cancelled_on_start(executor, make_pipeline, now):
    run = two_steps(make_pipeline, now)
    dispatch_once(executor=executor, policy="fifo", now=now)
    jobs = sorted(handles(run).values())
    wait_until(lambda: executor.list_active() == jobs, what="both jobs to be active")
    # The cancel request is sent after commit; inside this test's transaction it never leaves:
    # as if the worker that should have stopped the jobs was gone.
    assert services.cancel_run(run.pk, now=now)

    found = reconcile_on_start(executor=executor, now=now)

    assert (found.cancelled, found.resubmitted) == (jobs, [])
    wait_until(lambda: executor.list_active() == [], what="the jobs to stop")
    assert reconcile_on_start(executor=executor, now=now).cancelled == []


def test_an_admitted_step_without_a_job_is_resubmitted_and_the_others_are_left_alone(executor, make_pipeline, now):
    run = two_steps(make_pipeline, now)
    dispatch_once(executor=Dropping(executor, lost="-b-"), policy="fifo", now=now)
    a, b = handles(run)["a"], handles(run)["b"]
    wait_until(lambda: executor.list_active() == [a], what="a's job to be active")

    found = reconcile_on_start(executor=executor, now=now)

    assert (found.cancelled, found.resubmitted) == ([], [b])
    wait_until(lambda: executor.list_active() == sorted([a, b]), what="b's job to be active")
    assert StepRun.objects.get(run=run, step_name="b").status == "admitted"
    again = reconcile_on_start(executor=executor, now=now)
    assert (again.cancelled, again.resubmitted) == ([], [])


