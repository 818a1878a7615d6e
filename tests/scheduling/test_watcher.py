"""scheduling.watcher: executor events become step run transitions, once each, and a watch resumes.

Steps are admitted the way the dispatcher admits them (a transition carrying the job's name as
the handle); the events are what an executor reports for that job.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterator

import pytest

from pipelines import services, states
from pipelines.models import Run, StepRun, StepRunEvent
from scheduling.executors.base import EXITED, FAILED, STARTED, ExecutorEvent
from scheduling.jobspec import job_name
from scheduling.models import DispatchCursor
from scheduling.watcher import follow, record_batch, record_event
from tests.builders import spec, step
from tests.scheduling.test_quota_admin import dispatches_sent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def backoff_5_s(settings):
    settings.TRELLIS_RETRY_BACKOFF_S = 5


@pytest.fixture
def run(make_pipeline, now) -> Run:
    return services.submit_run(make_pipeline(spec(step("train", retries=1))), user=None, now=now)


def train(run: Run) -> StepRun:
    return StepRun.objects.get(run=run, step_name="train")


def admit(run: Run, now: datetime) -> str:
    """Admit the train step's current attempt as dispatch does; return its job's name."""
    sr = train(run)
    handle = job_name(run.pk, "train", sr.attempt)
    assert services.transition(sr.pk, to=states.ADMITTED, expected=states.QUEUED, attempt=sr.attempt, now=now,
                               handle=handle)
    return handle


def transitions(run: Run) -> list[tuple[str, str, int]]:
    """(from, to, attempt) of the run's events after it was submitted and admitted."""
    rows = StepRunEvent.objects.filter(run=run).exclude(to_status__in=["queued", "admitted"]).order_by("seq")
    return list(rows.values_list("from_status", "to_status", "attempt"))


def started(handle: str, position: str = "1") -> ExecutorEvent:
    return ExecutorEvent(handle, STARTED, position, node="gpu-node-7")


def exited(handle: str, code: int, position: str = "2", reason: str = "") -> ExecutorEvent:
    return ExecutorEvent(handle, EXITED, position, exit_code=code, reason=reason)


# -- record_event ----------------------------------------------------------------------------


def test_a_start_moves_the_admitted_step_to_running_on_its_node(run, now):
    handle = admit(run, now)

    recorded = record_event(started(handle), now=now)

    sr = train(run)
    assert recorded is True
    assert (sr.status, sr.node, sr.started_at) == ("running", "gpu-node-7", now)
    assert Run.objects.get(pk=run.pk).status == "running"


def test_an_exit_with_code_0_succeeds_the_step(run, now):
    handle = admit(run, now)
    record_event(started(handle), now=now)

    record_event(exited(handle, 0), now=now)

    sr = train(run)
    assert (sr.status, sr.exit_code, sr.finished_at) == ("succeeded", 0, now)
    assert Run.objects.get(pk=run.pk).status == "succeeded"


@pytest.mark.parametrize("reason", ["", "exited with code 3"],
                         ids=["the executor gives only the code", "the executor words it too"])
def test_an_exit_with_code_3_fails_the_step_naming_the_code(make_pipeline, now, reason):
    run = services.submit_run(make_pipeline(spec(step("train"))), user=None, now=now)
    handle = admit(run, now)
    record_event(started(handle), now=now)

    record_event(exited(handle, 3, reason=reason), now=now)

    sr = train(run)
    assert (sr.status, sr.reason, sr.exit_code) == ("failed", "exited with code 3", 3)
    assert Run.objects.get(pk=run.pk).reason == "step 'train' failed: exited with code 3"


def test_an_exit_seen_without_its_start_records_running_then_succeeded(run, now):
    handle = admit(run, now)

    record_event(exited(handle, 0), now=now)

    assert transitions(run) == [("admitted", "running", 1), ("running", "succeeded", 1)]
    assert train(run).status == "succeeded"


def test_a_failure_reported_by_the_executor_fails_the_step_with_its_reason(make_pipeline, now):
    run = services.submit_run(make_pipeline(spec(step("train"))), user=None, now=now)
    handle = admit(run, now)
    record_event(started(handle), now=now)

    record_event(ExecutorEvent(handle, FAILED, "2", reason="timed out after 1 s"), now=now)

    sr = train(run)
    assert (sr.status, sr.reason, sr.exit_code) == ("failed", "timed out after 1 s", None)


def test_an_event_for_a_job_no_step_run_holds_changes_nothing(run, now):
    admit(run, now)
    before = list(StepRunEvent.objects.filter(run=run).values_list("seq", flat=True))

    recorded = record_event(exited(job_name(run.pk + 1, "train", 1), 0), now=now)

    assert recorded is False
    assert train(run).status == "admitted"
    assert list(StepRunEvent.objects.filter(run=run).values_list("seq", flat=True)) == before


def test_a_late_event_of_an_older_attempt_changes_nothing(run, now):
    first = admit(run, now)
    record_event(started(first), now=now)
    record_event(exited(first, 1, reason="exited with code 1"), now=now)  # retried: attempt 2
    second = admit(run, now)
    before = transitions(run)

    recorded = record_event(exited(first, 0, position="9"), now=now)

    assert recorded is False
    sr = train(run)
    assert (sr.status, sr.attempt, sr.handle) == ("admitted", 2, second)
    assert transitions(run) == before


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (started, [("admitted", "running", 1)]),
        (lambda handle: exited(handle, 0), [("admitted", "running", 1), ("running", "succeeded", 1)]),
    ],
    ids=["a start", "an exit"],
)
def test_the_same_event_twice_is_recorded_once(run, now, event, expected):
    handle = admit(run, now)

    recorded = [record_event(event(handle), now=now), record_event(event(handle), now=now)]

    assert recorded == [True, False]
    assert transitions(run) == expected


@pytest.mark.django_db(transaction=True)  # committed: the request leaves for the real broker
@pytest.mark.parametrize("is_preemptible, asks", [(False, 0), (True, 1)], ids=["other work", "preemptible work"])
def test_a_start_asks_for_a_dispatch_only_when_the_step_may_be_preempted(make_pipeline, now, is_preemptible, asks):
    # Only running work is preempted: a dispatch that wanted to preempt this step while it was
    # only admitted can now; any other start frees nothing and readies nothing.
    run = services.submit_run(make_pipeline(spec(step("train", preemptible=is_preemptible))), user=None, now=now)
    handle = admit(run, now)
    before = dispatches_sent()

    record_event(started(handle), now=now)

    assert train(run).status == "running"
    assert dispatches_sent() - before == asks


def test_a_batchs_ends_are_recorded_before_the_other_jobs_starts(make_pipeline, now):
    pipeline = make_pipeline(spec(step("prepare"), step("train", depends_on=["prepare"])))
    ending, starting = (services.submit_run(pipeline, user=None, now=now) for _ in range(2))
    handles = []
    for r in (ending, starting):
        sr = StepRun.objects.get(run=r, step_name="prepare")
        handles.append(job_name(r.pk, "prepare", 1))
        services.transition(sr.pk, to=states.ADMITTED, expected=states.QUEUED, now=now, handle=handles[-1])

    # Another run's start came first, then this one's end (its start unseen): the end, which
    # readies a dependent and asks for a dispatch, is committed first.
    record_batch([started(handles[1]), exited(handles[0], 0)])

    recorded = StepRunEvent.objects.filter(to_status__in=["running", "succeeded"]).order_by("id")
    assert [(e.run_id, e.to_status) for e in recorded] == [(ending.pk, "running"), (ending.pk, "succeeded"),
                                                           (starting.pk, "running")]
    assert StepRun.objects.get(run=ending, step_name="train").status == "queued"


# -- follow ----------------------------------------------------------------------------------


class ScriptedExecutor:
    """Yields its script of events from ``watch`` and notes every ``since`` it was asked for."""

    def __init__(self, *events: ExecutorEvent):
        self.script = list(events)
        self.since: list[str | None] = []

    def watch(self, since: str | None) -> Iterator[ExecutorEvent | None]:
        self.since.append(since)
        while self.script:
            yield self.script.pop(0)

    def is_done(self) -> bool:
        return not self.script


def test_following_records_the_events_and_saves_the_position(run, now):
    handle = admit(run, now)
    executor = ScriptedExecutor(started(handle, "120"), exited(handle, 0, "240"))

    follow(executor, name="watcher:scripted", should_stop=executor.is_done)

    assert train(run).status == "succeeded"
    assert executor.since == [None]
    assert DispatchCursor.objects.get(name="watcher:scripted").position == "240"


def test_following_again_resumes_from_the_saved_position(run, now):
    handle = admit(run, now)
    first = ScriptedExecutor(started(handle, "120"))
    follow(first, name="watcher:scripted", should_stop=first.is_done)
    second = ScriptedExecutor(exited(handle, 0, "240"))

    follow(second, name="watcher:scripted", should_stop=second.is_done)

    assert second.since == ["120"]
    assert train(run).status == "succeeded"
    assert DispatchCursor.objects.get(name="watcher:scripted").position == "240"
