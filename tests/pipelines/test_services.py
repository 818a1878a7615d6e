"""pipelines.services: submitting, transitions and their follow-ups, cancelling, versions.

Every write goes through ``transition``; these tests drive runs through it the way the
dispatcher and the watcher do (expected status and attempt given) and read back step states,
events and the run's status and reason.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from pipelines import services, states
from pipelines.models import PipelineVersion, Run, StepRun, StepRunEvent
from pipelines.services import SpecInvalid
from pipelines.spec import spec_from_dict, spec_to_dict
from tests.builders import chain, diamond, node_limits, spec, step

pytestmark = pytest.mark.django_db

# What the executor says of a step that exited with code 1.
EXIT_1 = "exited with code 1"


@pytest.fixture(autouse=True)
def backoff_5_s(settings):
    settings.TRELLIS_RETRY_BACKOFF_S = 5
    settings.TRELLIS_RETRY_BACKOFF_MAX_S = 300


def submit(pipeline, now: datetime, **kwargs) -> Run:
    return services.submit_run(pipeline, user=None, now=now, **kwargs)


def step_run(run: Run, name: str) -> StepRun:
    return StepRun.objects.get(run=run, step_name=name)


def statuses(run: Run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("step_name", "status"))


def events(run: Run, *, after: int = 0) -> list[tuple[int, str, str, str]]:
    """(seq, step, from, to) of the run's events, in order."""
    rows = StepRunEvent.objects.filter(run=run, seq__gt=after).order_by("seq")
    return list(rows.values_list("seq", "step_name", "from_status", "to_status"))


def move(run: Run, name: str, to: str, now: datetime, **kwargs) -> bool:
    """Move a step on from the status and attempt it is at now, as the dispatcher and watcher do."""
    sr = step_run(run, name)
    return services.transition(sr.pk, to=to, expected=sr.status, attempt=sr.attempt, now=now, **kwargs)


def start(run: Run, name: str, now: datetime) -> None:
    """queued -> admitted -> running."""
    for to in (states.ADMITTED, states.RUNNING):
        assert move(run, name, to, now)


def succeed(run: Run, name: str, now: datetime) -> None:
    start(run, name, now)
    assert move(run, name, states.SUCCEEDED, now, exit_code=0)


def fail(run: Run, name: str, now: datetime, reason: str = EXIT_1) -> None:
    start(run, name, now)
    assert move(run, name, states.FAILED, now, reason=reason, exit_code=1)


def fresh(run: Run) -> Run:
    return Run.objects.get(pk=run.pk)


# -- submitting ------------------------------------------------------------------------------


def test_submitting_a_run_queues_its_root_steps_and_leaves_the_others_pending(make_pipeline, now):
    pipeline = make_pipeline(spec(step("a"), step("b"), step("c", depends_on=["a", "b"])))

    run = submit(pipeline, now)

    assert statuses(run) == {"a": "queued", "b": "queued", "c": "pending"}
    assert events(run) == [(1, "a", "pending", "queued"), (2, "b", "pending", "queued")]
    assert (fresh(run).status, fresh(run).last_seq) == ("queued", 2)
    assert step_run(run, "a").queued_at == now


def test_submitting_an_invalid_spec_raises_spec_invalid_naming_the_problem(make_pipeline, now):
    pipeline = make_pipeline(spec(step("prepare")))
    broken = spec(step("prepare"), step("train", inputs={"data": "prepare.dataset"}))
    version = PipelineVersion.objects.create(pipeline=pipeline, number=2, spec=spec_to_dict(broken))

    with pytest.raises(SpecInvalid) as raised:
        submit(pipeline, now, version=version)

    assert str(raised.value) == (
        "input 'data' of step 'train': step 'prepare' has no output 'dataset' (it produces nothing)"
    )
    assert [p.code for p in raised.value.problems] == ["missing_output"]
    assert not Run.objects.exists()


def test_submitting_a_step_larger_than_the_largest_node_raises_spec_invalid(make_pipeline, now):
    pipeline = make_pipeline(spec(step("train", resources={"cpu": 16})))

    with pytest.raises(SpecInvalid, match="step 'train' asks for 16 cpu but the largest node has 8"):
        submit(pipeline, now, limits=node_limits(cpu=8))

    assert not Run.objects.exists()


# -- success queues dependents ---------------------------------------------------------------


def test_a_step_succeeding_queues_its_dependents_whose_upstream_all_succeeded(make_pipeline, now):
    run = submit(make_pipeline(diamond()), now)
    start(run, "a", now)
    seen = fresh(run).last_seq

    move(run, "a", states.SUCCEEDED, now, exit_code=0)

    assert statuses(run) == {"a": "succeeded", "b": "queued", "c": "queued", "d": "pending"}
    assert events(run, after=seen) == [
        (seen + 1, "a", "running", "succeeded"),
        (seen + 2, "b", "pending", "queued"),
        (seen + 3, "c", "pending", "queued"),
    ]


def test_the_join_of_a_diamond_waits_while_one_branch_is_still_running(make_pipeline, now):
    run = submit(make_pipeline(diamond()), now)
    succeed(run, "a", now)
    start(run, "c", now)
    start(run, "b", now)

    move(run, "b", states.SUCCEEDED, now, exit_code=0)

    assert statuses(run) == {"a": "succeeded", "b": "succeeded", "c": "running", "d": "pending"}


def test_the_join_of_a_diamond_is_queued_once_both_branches_succeeded(make_pipeline, now):
    run = submit(make_pipeline(diamond()), now)
    succeed(run, "a", now)
    succeed(run, "b", now)
    start(run, "c", now)
    later = now + timedelta(minutes=3)

    move(run, "c", states.SUCCEEDED, later, exit_code=0)

    assert statuses(run)["d"] == "queued"
    assert step_run(run, "d").queued_at == later
    assert events(run)[-1][1:] == ("d", "pending", "queued")


# -- failure: skip or retry ------------------------------------------------------------------


def branching():
    """prepare feeds train -> evaluate -> export, and, on a branch of its own, report."""
    return spec(
        step("prepare"),
        step("train", depends_on=["prepare"]),
        step("evaluate", depends_on=["train"]),
        step("export", depends_on=["evaluate"]),
        step("report", depends_on=["prepare"]),
    )


def test_a_step_failing_for_good_skips_every_transitive_dependent_but_no_other_branch(make_pipeline, now):
    run = submit(make_pipeline(branching()), now)
    succeed(run, "prepare", now)
    start(run, "train", now)

    move(run, "train", states.FAILED, now, reason=EXIT_1, exit_code=1)

    assert statuses(run) == {
        "prepare": "succeeded", "train": "failed", "evaluate": "skipped", "export": "skipped", "report": "queued",
    }
    skipped = StepRun.objects.filter(run=run, status=states.SKIPPED)
    assert {sr.reason for sr in skipped} == {"upstream step 'train' failed"}
    assert (fresh(run).status, fresh(run).finished_at) == ("running", None)


def test_the_run_fails_naming_the_failed_step_once_the_other_branches_finish(make_pipeline, now):
    run = submit(make_pipeline(branching()), now)
    succeed(run, "prepare", now)
    fail(run, "train", now)
    start(run, "report", now)
    later = now + timedelta(minutes=5)

    move(run, "report", states.SUCCEEDED, later, exit_code=0)

    run = fresh(run)
    assert (run.status, run.reason, run.finished_at) == ("failed", "step 'train' failed: exited with code 1", later)


def test_a_failure_with_retries_left_queues_the_next_attempt_after_a_backoff(make_pipeline, now):
    run = submit(make_pipeline(spec(step("train", retries=2))), now)
    start(run, "train", now)
    seen = fresh(run).last_seq

    move(run, "train", states.FAILED, now, reason=EXIT_1, exit_code=1)

    sr = step_run(run, "train")
    assert (sr.status, sr.attempt, sr.ready_at) == ("queued", 2, now + timedelta(seconds=5))
    assert sr.reason == "retry 2 of 3 in 5 s after: exited with code 1"
    assert (sr.handle, sr.exit_code, sr.queued_at) == ("", None, now)  # keeps its place in line
    attempts = StepRunEvent.objects.filter(run=run, seq__gt=seen).values_list("to_status", "attempt")
    assert list(attempts) == [("failed", 1), ("queued", 2)]
    assert fresh(run).status == "running"


def test_each_retry_waits_twice_as_long_as_the_one_before(make_pipeline, now):
    run = submit(make_pipeline(spec(step("train", retries=2))), now)
    fail(run, "train", now)
    start(run, "train", now)

    move(run, "train", states.FAILED, now, reason=EXIT_1, exit_code=1)

    sr = step_run(run, "train")
    assert (sr.attempt, sr.ready_at) == (3, now + timedelta(seconds=10))
    assert sr.reason == "retry 3 of 3 in 10 s after: exited with code 1"


def test_a_failure_of_the_last_attempt_fails_the_step_for_good(make_pipeline, now):
    run = submit(make_pipeline(chain("train", "export")), now)
    start(run, "train", now)  # retries=0: its one attempt

    move(run, "train", states.FAILED, now, reason=EXIT_1, exit_code=1)

    assert statuses(run) == {"train": "failed", "export": "skipped"}
    run = fresh(run)
    assert (run.status, run.reason) == ("failed", "step 'train' failed: exited with code 1")


# -- conditional moves: stale and repeated ---------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "attempt"),
    [(states.RUNNING, 1), (states.QUEUED, 2)],
    ids=["the expected status is not the current one", "the attempt is an older or newer one"],
)
def test_a_stale_transition_changes_nothing_and_writes_no_event(make_pipeline, now, expected, attempt):
    run = submit(make_pipeline(spec(step("train"))), now)
    sr = step_run(run, "train")

    moved = services.transition(sr.pk, to=states.ADMITTED, expected=expected, attempt=attempt, now=now)

    assert moved is False
    assert (step_run(run, "train").status, step_run(run, "train").attempt) == ("queued", 1)
    assert events(run) == [(1, "train", "pending", "queued")]
    assert fresh(run).last_seq == 1


def test_replaying_the_same_transition_writes_one_event(make_pipeline, now):
    run = submit(make_pipeline(spec(step("train"))), now)
    sr = step_run(run, "train")
    admit = dict(to=states.ADMITTED, expected=states.QUEUED, attempt=1, now=now)

    moved = [services.transition(sr.pk, **admit), services.transition(sr.pk, **admit)]

    assert moved == [True, False]
    assert events(run) == [(1, "train", "pending", "queued"), (2, "train", "queued", "admitted")]


# -- cancelling ------------------------------------------------------------------------------


def test_cancelling_a_run_cancels_every_open_step_and_the_run(make_pipeline, now):
    run = submit(make_pipeline(spec(step("a"), step("b"), step("c"), step("d", depends_on=["a", "b", "c"]))), now)
    succeed(run, "a", now)
    start(run, "b", now)
    later = now + timedelta(minutes=1)

    cancelled = services.cancel_run(run.pk, now=later, reason="cancelled by ada")

    assert cancelled is True
    assert statuses(run) == {"a": "succeeded", "b": "cancelled", "c": "cancelled", "d": "cancelled"}
    run = fresh(run)
    assert (run.status, run.reason, run.finished_at) == ("cancelled", "cancelled by ada", later)
    assert {e[1:] for e in events(run)[-3:]} == {
        ("b", "running", "cancelled"), ("c", "queued", "cancelled"), ("d", "pending", "cancelled"),
    }


def test_cancelling_a_cancelled_run_again_returns_false_and_writes_nothing(make_pipeline, now):
    run = submit(make_pipeline(diamond()), now)
    services.cancel_run(run.pk, now=now)
    seen = fresh(run).last_seq

    cancelled = services.cancel_run(run.pk, now=now + timedelta(minutes=1))

    assert cancelled is False
    assert fresh(run).finished_at == now
    assert events(run, after=seen) == []


# -- the run's own status and its events -----------------------------------------------------


def test_a_run_whose_steps_all_succeeded_is_succeeded_with_its_finish_time(make_pipeline, now):
    run = submit(make_pipeline(diamond()), now)
    for name in "abc":
        succeed(run, name, now)
    start(run, "d", now)
    later = now + timedelta(hours=1)

    move(run, "d", states.SUCCEEDED, later, exit_code=0)

    run = fresh(run)
    assert (run.status, run.started_at, run.finished_at) == ("succeeded", now, later)
    assert set(statuses(run).values()) == {"succeeded"}


def lifecycle(run: Run, now: datetime):
    """A whole run of ``diamond(retries=1)``: a retry, a branch failing for good, a skip.

    Yields after each act so that a test can look at what that act wrote.
    """
    steps = [("a", states.ADMITTED), ("a", states.RUNNING), ("a", states.SUCCEEDED),
             ("b", states.ADMITTED), ("c", states.ADMITTED), ("b", states.RUNNING), ("c", states.RUNNING),
             ("b", states.FAILED),  # retried
             ("c", states.SUCCEEDED), ("b", states.ADMITTED), ("b", states.RUNNING),
             ("b", states.FAILED)]  # for good: d is skipped and the run fails
    for i, (name, to) in enumerate(steps):
        reason = EXIT_1 if to == states.FAILED else ""
        assert move(run, name, to, now + timedelta(seconds=i), reason=reason)
        yield


def test_the_events_of_a_whole_run_are_numbered_1_to_n_without_gaps_or_repeats(make_pipeline, now):
    run = submit(make_pipeline(diamond(retries=1)), now)

    for _ in lifecycle(run, now):
        pass

    seqs = list(StepRunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert fresh(run).last_seq == len(seqs) == 17
    assert fresh(run).status == "failed"


def test_every_event_carries_the_run_status_after_it(make_pipeline, now):
    run = submit(make_pipeline(diamond(retries=1)), now)
    seen, mismatches = 0, []

    for _ in itertools.chain([None], lifecycle(run, now)):  # after submitting, then after each act
        status, last_seq = Run.objects.filter(pk=run.pk).values_list("status", "last_seq").get()
        new = StepRunEvent.objects.filter(run=run, seq__gt=seen)
        mismatches += [(e.seq, e.run_status, status) for e in new if e.run_status != status]
        seen = last_seq

    assert mismatches == []
    statuses_seen = list(StepRunEvent.objects.filter(run=run).order_by("seq").values_list("run_status", flat=True))
    assert statuses_seen[0] == "queued" and statuses_seen[-1] == "failed" and "running" in statuses_seen


# -- versions --------------------------------------------------------------------------------


def test_versions_are_numbered_1_2_3_in_the_order_they_are_saved(make_pipeline):
    pipeline = make_pipeline(chain("a", "b"))

    for message in ("second", "third"):
        services.save_version(pipeline, spec=spec_to_dict(chain("a", "b", "c")), user=None, message=message)

    numbers = pipeline.versions.order_by("number").values_list("number", "message")
    assert list(numbers) == [(1, "created"), (2, "second"), (3, "third")]
    assert pipeline.latest_version.number == 3


@pytest.mark.parametrize("save_kwargs", [{}, {"update_fields": ["spec"]}, {"force_insert": True}],
                         ids=["plain save", "save of some fields", "save forcing an insert"])
def test_a_saved_version_cannot_be_saved_again(make_pipeline, save_kwargs):
    pipeline = make_pipeline(chain("a", "b"))
    version = pipeline.latest_version
    version.spec = spec_to_dict(chain("x", "y"))

    with pytest.raises(ValidationError, match="immutable"):
        version.save(**save_kwargs)

    assert PipelineVersion.objects.get(pk=version.pk).spec == spec_to_dict(chain("a", "b"))


def test_a_run_keeps_its_spec_snapshot_after_a_newer_version_is_saved(make_pipeline, now):
    pipeline = make_pipeline(chain("a", "b"))
    run = submit(pipeline, now)

    services.save_version(pipeline, spec=spec_to_dict(chain("a", "b", "c")), user=None)

    run = fresh(run)
    assert (run.version.number, spec_from_dict(run.spec).names) == (1, ("a", "b"))
    assert spec_from_dict(submit(pipeline, now).spec).names == ("a", "b", "c")
