"""Retry from failure: ``services.retry_run`` and ``POST /api/runs/<id>/retry/``.

A failed or cancelled run runs its failed, cancelled and skipped steps again, each as a new
attempt; succeeded steps keep their outputs and do not move. Every move is an event.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines import services, states
from pipelines.models import Run, StepRun, StepRunEvent
from pipelines.spec import spec_to_dict
from tests.builders import spec, step

pytestmark = pytest.mark.django_db

EXIT_1 = "exited with code 1"


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.TRELLIS_RUNS_DIR = tmp_path / "runs"
    settings.TRELLIS_RETRY_BACKOFF_S = 5
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pipeline_spec():
    """``prepare`` feeds ``train`` (which may retry once) and ``report``; ``evaluate`` needs
    ``train``; ``fetch`` is a second root that ``train`` also waits for."""
    return spec(
        step("prepare", outputs=["dataset"]),
        step("fetch"),
        step("train", inputs={"data": "prepare.dataset"}, depends_on=["fetch"], outputs=["model"], retries=1),
        step("evaluate", inputs={"model": "train.model"}),
        step("report", depends_on=["prepare"]),
    )


def step_run(run: Run, name: str) -> StepRun:
    return StepRun.objects.get(run=run, step_name=name)


def statuses(run: Run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("step_name", "status"))


def move(run: Run, name: str, to: str, now, **kwargs) -> None:
    sr = step_run(run, name)
    assert services.transition(sr.pk, to=to, expected=sr.status, attempt=sr.attempt, now=now, **kwargs)


def succeed(run: Run, name: str, now) -> None:
    for to in (states.ADMITTED, states.RUNNING):
        move(run, name, to, now)
    move(run, name, states.SUCCEEDED, now, exit_code=0)


def fail_for_good(run: Run, name: str, now) -> None:
    for to in (states.ADMITTED, states.RUNNING):
        move(run, name, to, now)
    move(run, name, states.FAILED, now, reason=EXIT_1, exit_code=1, allow_retry=False)


@pytest.fixture
def failed_run(make_pipeline, now):
    """prepare, fetch and report succeeded; train failed for good at attempt 1, so evaluate was
    skipped and the run failed."""
    run = services.submit_run(make_pipeline(pipeline_spec()), user=None, now=now)
    for name in ("prepare", "fetch", "report"):
        succeed(run, name, now)
    fail_for_good(run, "train", now)
    run.refresh_from_db()
    assert run.status == states.RUN_FAILED
    assert statuses(run) == {"prepare": "succeeded", "fetch": "succeeded", "report": "succeeded",
                             "train": "failed", "evaluate": "skipped"}
    return run


def snapshot(sr: StepRun) -> tuple:
    return (sr.status, sr.attempt, sr.started_at, sr.finished_at, sr.handle, sr.log_path, sr.exit_code)


# -- the service -----------------------------------------------------------------------------


def test_retry_leaves_succeeded_steps_exactly_as_they_were(failed_run, now):
    before = {sr.step_name: snapshot(sr) for sr in StepRun.objects.filter(run=failed_run)}
    assert services.retry_run(failed_run.pk, now=now + timedelta(minutes=5))
    after = {sr.step_name: snapshot(sr) for sr in StepRun.objects.filter(run=failed_run)}
    for name in ("prepare", "fetch", "report"):
        assert after[name] == before[name]
    retried = StepRunEvent.objects.filter(run=failed_run, seq__gt=failed_run.last_seq)
    assert {e.step_name for e in retried} == {"train", "evaluate"}


def test_retry_queues_a_failed_step_whose_upstream_succeeded_and_leaves_its_dependents_pending(failed_run, now):
    later = now + timedelta(minutes=5)
    assert services.retry_run(failed_run.pk, now=later)
    train, evaluate = step_run(failed_run, "train"), step_run(failed_run, "evaluate")
    assert (train.status, train.attempt, train.queued_at, train.ready_at) == ("queued", 2, later, later)
    assert (train.started_at, train.finished_at, train.exit_code, train.handle, train.log_path) == (None, None, None, "", "")
    assert (evaluate.status, evaluate.attempt, evaluate.queued_at) == ("pending", 2, None)


def test_retry_grants_a_fresh_set_of_retries(failed_run, now):
    assert services.retry_run(failed_run.pk, now=now)
    train = step_run(failed_run, "train")
    assert (train.attempt, train.max_attempts) == (2, 3)  # retries=1: one more after this attempt
    assert step_run(failed_run, "evaluate").max_attempts == 2  # retries=0


def test_retry_writes_contiguous_events_pending_then_queued_with_the_run_running(failed_run, now):
    first = failed_run.last_seq
    assert services.retry_run(failed_run.pk, now=now)
    events = list(StepRunEvent.objects.filter(run=failed_run).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    new = [(e.step_name, e.attempt, e.from_status, e.to_status, e.run_status) for e in events if e.seq > first]
    assert new == [
        ("train", 2, "failed", "pending", "running"),
        ("evaluate", 2, "skipped", "pending", "running"),
        ("train", 2, "pending", "queued", "running"),
    ]
    assert Run.objects.get(pk=failed_run.pk).last_seq == first + 3


def test_retry_publishes_its_events_after_commit(failed_run, now, django_capture_on_commit_callbacks, monkeypatch):
    from pipelines import outbox

    sent = []
    monkeypatch.setattr(outbox, "_publish", lambda messages, team_ids: sent.extend(messages))
    monkeypatch.setattr(outbox, "_send_task", lambda *a, **kw: None)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retry_run(failed_run.pk, now=now)
    assert [(m["step"], m["to"]) for m in sent] == [("train", "pending"), ("evaluate", "pending"), ("train", "queued")]


def test_retry_makes_the_run_running_again_keeping_its_start_and_clearing_its_end(failed_run, now):
    started_at = failed_run.started_at
    assert services.retry_run(failed_run.pk, now=now + timedelta(hours=1))
    run = Run.objects.get(pk=failed_run.pk)
    assert (run.status, run.reason, run.started_at, run.finished_at) == ("running", "", started_at, None)


def test_the_retried_run_succeeds_once_the_retried_steps_do(failed_run, now):
    assert services.retry_run(failed_run.pk, now=now)
    succeed(failed_run, "train", now)
    assert step_run(failed_run, "evaluate").status == "queued"
    succeed(failed_run, "evaluate", now)
    run = Run.objects.get(pk=failed_run.pk)
    assert run.status == "succeeded"
    assert run.finished_at == now


def test_a_retried_step_that_fails_again_retries_by_itself_before_failing_the_run(failed_run, now):
    assert services.retry_run(failed_run.pk, now=now)
    for to in (states.ADMITTED, states.RUNNING):
        move(failed_run, "train", to, now)
    move(failed_run, "train", states.FAILED, now, reason=EXIT_1, exit_code=1)
    train = step_run(failed_run, "train")
    assert (train.status, train.attempt) == ("queued", 3)
    assert Run.objects.get(pk=failed_run.pk).status == "running"


def test_retry_of_a_cancelled_run_requeues_cancelled_roots_and_pends_their_dependents(make_pipeline, now):
    run = services.submit_run(make_pipeline(pipeline_spec()), user=None, now=now)
    succeed(run, "prepare", now)
    for to in (states.ADMITTED, states.RUNNING):
        move(run, "fetch", to, now)
    assert services.cancel_run(run.pk, now=now)
    assert statuses(run) == {"prepare": "succeeded", "fetch": "cancelled", "train": "cancelled",
                             "evaluate": "cancelled", "report": "cancelled"}

    assert services.retry_run(run.pk, now=now)
    assert statuses(run) == {"prepare": "succeeded", "fetch": "queued", "train": "pending",
                             "evaluate": "pending", "report": "queued"}
    assert step_run(run, "fetch").attempt == 2
    assert Run.objects.get(pk=run.pk).status == "running"


def test_the_retry_reason_names_who_asked(failed_run, now, make_user):
    assert services.retry_run(failed_run.pk, now=now, user=make_user("ada"))
    assert step_run(failed_run, "train").reason == "retry from failure requested by ada"


@pytest.mark.parametrize("finish", ["succeeded", "running"])
def test_a_run_that_is_not_failed_or_cancelled_is_not_retried(make_pipeline, now, finish):
    run = services.submit_run(make_pipeline(spec(step("only"))), user=None, now=now)
    if finish == "succeeded":
        succeed(run, "only", now)
    else:
        move(run, "only", states.ADMITTED, now)
    before = list(StepRunEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert not services.retry_run(run.pk, now=now)
    assert Run.objects.get(pk=run.pk).status == finish
    assert list(StepRunEvent.objects.filter(run=run).values_list("seq", flat=True)) == before


def test_retrying_twice_in_a_row_retries_once(failed_run, now):
    assert services.retry_run(failed_run.pk, now=now)
    assert not services.retry_run(failed_run.pk, now=now)
    assert step_run(failed_run, "train").attempt == 2


def test_a_late_exit_of_the_old_attempt_does_not_touch_the_retried_step(failed_run, now):
    assert services.retry_run(failed_run.pk, now=now)
    train = step_run(failed_run, "train")
    assert not services.transition(train.pk, to=states.FAILED, expected=states.QUEUED, attempt=1, now=now)
    assert step_run(failed_run, "train").status == "queued"


# -- the API ---------------------------------------------------------------------------------


@pytest.fixture
def team(make_team):
    return make_team("vision")


@pytest.fixture
def failed_api_run(team, now):
    pipeline = services.create_pipeline(team=team, name="p", spec=spec_to_dict(pipeline_spec()), user=None)
    run = services.submit_run(pipeline, user=None, now=now)
    for name in ("prepare", "fetch", "report"):
        succeed(run, name, now)
    fail_for_good(run, "train", now)
    return run


def test_editor_retries_a_failed_run_with_a_202_and_the_run_detail(api, team, make_user, failed_api_run):
    response = api.as_user(make_user("ada", team=team)).post(f"/api/runs/{failed_api_run.pk}/retry/")
    assert response.status_code == 202
    data = response.json()
    assert data["status"] == "running"
    assert {s["step"]: (s["status"], s["attempt"]) for s in data["step_runs"]} == {
        "prepare": ("succeeded", 1), "fetch": ("succeeded", 1), "report": ("succeeded", 1),
        "train": ("queued", 2), "evaluate": ("pending", 2)}
    assert data["last_seq"] == Run.objects.get(pk=failed_api_run.pk).last_seq


def test_retrying_a_succeeded_run_is_a_409_saying_why(api, team, make_user, now):
    pipeline = services.create_pipeline(team=team, name="p", spec=spec_to_dict(spec(step("only"))), user=None)
    run = services.submit_run(pipeline, user=None, now=now)
    succeed(run, "only", now)
    response = api.as_user(make_user("ada", team=team)).post(f"/api/runs/{run.pk}/retry/")
    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"run {run.pk} is succeeded; only a failed or cancelled run")


def test_viewer_cannot_retry_a_run(api, team, make_user, failed_api_run):
    response = api.as_user(make_user("vic", team=team, role="viewer")).post(f"/api/runs/{failed_api_run.pk}/retry/")
    assert response.status_code == 403
    assert Run.objects.get(pk=failed_api_run.pk).status == "failed"


def test_another_teams_run_is_a_404_to_retry(api, make_team, make_user, failed_api_run):
    stranger = make_user("sam", team=make_team("audio"), role="admin")
    assert api.as_user(stranger).post(f"/api/runs/{failed_api_run.pk}/retry/").status_code == 404


def test_retry_needs_a_signed_in_user(api, failed_api_run):
    assert api.post(f"/api/runs/{failed_api_run.pk}/retry/").status_code == 403
