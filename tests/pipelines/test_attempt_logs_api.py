"""``GET /api/runs/<id>/steps/<step>/log/?attempt=<n>``: the log of any attempt of a step.

A step that failed and retried keeps each attempt's log in its own file; the admission of each
attempt records where (on its event), so an older attempt's log stays readable after the step
run moved on to the next attempt.
"""
from __future__ import annotations

import pytest

from pipelines import services, states
from pipelines.models import StepRun
from tests.builders import spec, step

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.TRELLIS_RUNS_DIR = tmp_path / "runs"
    settings.TRELLIS_RETRY_BACKOFF_S = 0


@pytest.fixture
def member(make_user, make_team):
    team = make_team("vision")
    return make_user("ada", team=team, role="viewer"), team


def admit(sr: StepRun, now, log_path: str) -> None:
    assert services.transition(sr.pk, to=states.ADMITTED, expected=states.QUEUED, attempt=sr.attempt, now=now,
                               handle=f"job-{sr.attempt}", log_path=log_path)


def move(sr_pk: int, to: str, now, **kwargs) -> None:
    sr = StepRun.objects.get(pk=sr_pk)
    assert services.transition(sr.pk, to=to, expected=sr.status, attempt=sr.attempt, now=now, **kwargs)


@pytest.fixture
def retried(member, make_pipeline, now, tmp_path):
    """Step 'train' (one retry) failed at attempt 1 and runs attempt 2; each wrote its own log."""
    user, team = member
    run = services.submit_run(make_pipeline(spec(step("train", retries=1)), team=team), user=user, now=now)
    sr = StepRun.objects.get(run=run, step_name="train")
    first, second = tmp_path / "train.1.log", tmp_path / "train.2.log"
    first.write_text("loading\nTraceback: out of memory\n")
    second.write_text("loading\nepoch 1\n")
    admit(sr, now, str(first))
    move(sr.pk, states.RUNNING, now)
    move(sr.pk, states.FAILED, now, reason="exited with code 1", exit_code=1)
    sr.refresh_from_db()
    assert (sr.status, sr.attempt, sr.log_path) == (states.QUEUED, 2, "")
    admit(sr, now, str(second))
    move(sr.pk, states.RUNNING, now)
    return run


def url(run, step_name: str = "train") -> str:
    return f"/api/runs/{run.pk}/steps/{step_name}/log/"


def test_an_older_attempt_reads_its_own_log_complete(api, member, retried):
    chunk = api.as_user(member[0]).get(url(retried), {"attempt": 1}).json()

    assert chunk["text"] == "loading\nTraceback: out of memory\n"
    assert chunk["is_complete"] is True  # that attempt ended


def test_without_an_attempt_the_latest_attempt_is_read_and_still_growing(api, member, retried):
    client = api.as_user(member[0])

    latest = client.get(url(retried)).json()
    named = client.get(url(retried), {"attempt": 2}).json()

    assert latest == named
    assert (latest["text"], latest["is_complete"]) == ("loading\nepoch 1\n", False)


def test_an_older_attempt_stays_readable_while_the_next_one_waits_in_the_queue(api, member, make_pipeline, now, tmp_path):
    user, team = member
    run = services.submit_run(make_pipeline(spec(step("train", retries=2)), team=team), user=user, now=now)
    sr = StepRun.objects.get(run=run, step_name="train")
    log = tmp_path / "train.1.log"
    log.write_text("boom\n")
    admit(sr, now, str(log))
    move(sr.pk, states.RUNNING, now)
    move(sr.pk, states.FAILED, now, reason="exited with code 1", exit_code=1)

    chunk = api.as_user(user).get(url(run), {"attempt": 1}).json()

    assert (chunk["text"], chunk["is_complete"]) == ("boom\n", True)


@pytest.mark.parametrize("attempt", [3, 99], ids=["the-next-attempt", "far-beyond"])
def test_an_attempt_the_step_has_not_had_is_a_404_saying_which_it_had(api, member, retried, attempt):
    response = api.as_user(member[0]).get(url(retried), {"attempt": attempt})

    assert response.status_code == 404
    assert response.json() == {"detail": f"step 'train' has no attempt {attempt}: it has had attempts 1 to 2"}


def test_a_step_the_run_does_not_have_is_a_404_naming_it(api, member, retried):
    response = api.as_user(member[0]).get(f"/api/runs/{retried.pk}/steps/nope/log/")

    assert response.status_code == 404
    assert response.json() == {"detail": f"run {retried.pk} has no step 'nope'"}


def test_a_step_on_its_first_attempt_has_no_attempt_2(api, member, make_pipeline, now):
    user, team = member
    run = services.submit_run(make_pipeline(spec(step("train")), team=team), user=user, now=now)

    response = api.as_user(user).get(url(run), {"attempt": 2})

    assert response.status_code == 404
    assert response.json() == {"detail": "step 'train' has no attempt 2: it has had only attempt 1"}


@pytest.mark.parametrize("attempt", [0, -1, "first"], ids=["zero", "negative", "not-a-number"])
def test_an_attempt_that_is_not_a_positive_number_is_a_400_naming_the_field(api, member, retried, attempt):
    response = api.as_user(member[0]).get(url(retried), {"attempt": attempt})

    assert response.status_code == 400
    assert set(response.json()) == {"attempt"}


def test_each_admission_event_records_where_that_attempts_log_is(retried, tmp_path):
    from pipelines.models import StepRunEvent

    admissions = StepRunEvent.objects.filter(run=retried, to_status=states.ADMITTED).order_by("seq")

    assert [(e.attempt, e.log_path) for e in admissions] == [
        (1, str(tmp_path / "train.1.log")), (2, str(tmp_path / "train.2.log"))]


def test_an_attempt_admitted_before_events_kept_log_paths_is_found_beside_the_latest(api, member, retried,
                                                                                     tmp_path):
    from pipelines.models import StepRunEvent

    StepRunEvent.objects.filter(run=retried).update(log_path="")  # as recorded by an older Trellis

    chunk = api.as_user(member[0]).get(url(retried), {"attempt": 1}).json()

    assert chunk["text"] == "loading\nTraceback: out of memory\n"
