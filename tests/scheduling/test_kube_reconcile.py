"""A running step whose Job vanished while the watcher was away (deleted, or finished and removed,
with the history compacted) fails with a readable reason when the watcher starts again; its
retries and dependents go as for any failure; a Job that finished unseen but is still there is
taken from the relist instead; and no stale or repeated event moves a finished step backwards.

The real executor against the fake cluster over HTTP, the real reconcile and watcher functions."""
from __future__ import annotations

import pytest
from django.utils import timezone

from pipelines import services
from pipelines.models import Run, StepRun
from scheduling.dispatch import dispatch_once, reconcile_on_start
from scheduling.executors.base import STARTED, ExecutorEvent
from scheduling.watcher import record_batch
from tests.builders import spec, step
from tests.conftest import wait_until
from tests.fakes.kube import FakeCluster, Outcome
from tests.fakes.kube_executor import executor_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster():
    with FakeCluster(default=Outcome.hang()) as c:
        yield c


@pytest.fixture
def executor(cluster):
    return executor_for(cluster)


def a_then_b(make_pipeline, *, retries: int = 0) -> Run:
    pipeline = make_pipeline(spec(step("a", retries=retries), step("b", depends_on=["a"])))
    return services.submit_run(pipeline, user=None, now=timezone.now())


def a_running(executor, cluster, run) -> StepRun:
    """Dispatch a; the watcher records its start, then goes away (as far as this test goes)."""
    dispatch_once(executor=executor, policy="fifo", now=timezone.now())
    a = StepRun.objects.get(run=run, step_name="a")
    wait_until(lambda: any(p["status"].get("phase") == "Running" for p in cluster.pods()), what="a's pod to run")
    record_batch([ExecutorEvent(a.handle, STARTED, "", node="node-1")])
    a.refresh_from_db()
    assert a.status == "running"
    return a


def statuses(run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("step_name", "status"))


def test_a_running_step_whose_job_vanished_unseen_fails_with_a_reason_and_its_dependent_is_skipped(
        executor, cluster, make_pipeline):
    run = a_then_b(make_pipeline)
    a = a_running(executor, cluster, run)
    cluster.delete_job(a.handle)  # deleted from outside while nobody watched...
    cluster.compact()  # ...and the history that told of it is gone

    found = reconcile_on_start(executor=executor, now=timezone.now())

    assert found.vanished == [a.handle]
    a.refresh_from_db()
    assert a.reason == f"its job {a.handle} vanished while the watcher was away; its outcome is unknown"
    assert statuses(run) == {"a": "failed", "b": "skipped"}
    assert Run.objects.get(pk=run.pk).status == "failed"
    assert reconcile_on_start(executor=executor, now=timezone.now()).vanished == []


def test_a_vanished_step_with_retries_left_is_queued_for_its_next_attempt(executor, cluster, make_pipeline):
    run = a_then_b(make_pipeline, retries=1)
    a = a_running(executor, cluster, run)
    cluster.delete_job(a.handle)
    cluster.compact()

    reconcile_on_start(executor=executor, now=timezone.now())

    a.refresh_from_db()
    assert (a.status, a.attempt) == ("queued", 2)
    assert statuses(run)["b"] == "pending"


def test_a_job_that_finished_unseen_is_left_to_the_relist_which_succeeds_it_once(executor, cluster, make_pipeline):
    run = a_then_b(make_pipeline)
    a = a_running(executor, cluster, run)
    cluster.change_outcome(a.handle, Outcome.succeed())
    wait_until(lambda: (cluster.job(a.handle) or {}).get("status", {}).get("succeeded"), what="a's job to complete")
    cluster.compact()

    assert reconcile_on_start(executor=executor, now=timezone.now()).vanished == []
    seen = []
    for event in executor.watch(None):  # the watcher's first batch after a relist
        if event is None and seen:
            break
        if event is not None:
            seen.append(event)
    record_batch(seen)
    record_batch(seen)  # the same events again (a watcher that restarts before saving its position)
    a.refresh_from_db()
    assert a.status == "succeeded"
    assert statuses(run) == {"a": "succeeded", "b": "queued"}
    assert [e.to_status for e in a.events.order_by("seq")] == ["queued", "admitted", "running", "succeeded"]


def test_stale_events_of_a_finished_step_never_move_it_backwards(executor, cluster, make_pipeline):
    from scheduling.executors.base import EXITED, FAILED

    run = a_then_b(make_pipeline)
    a = a_running(executor, cluster, run)
    record_batch([ExecutorEvent(a.handle, EXITED, "", exit_code=0)])
    record_batch([ExecutorEvent(a.handle, STARTED, "", node="node-2"),
                  ExecutorEvent(a.handle, FAILED, "", reason="the job vanished while the watch was disconnected"),
                  ExecutorEvent(a.handle, EXITED, "", exit_code=137, reason="OOMKilled")])
    a.refresh_from_db()
    assert (a.status, a.node, a.reason) == ("succeeded", "node-1", "")
