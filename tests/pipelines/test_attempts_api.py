"""``GET /api/runs/<id>/steps/<step>/attempts/``: why each attempt of a step ended as it did.

The attempts are told from the step run's events: a retry is a new attempt, a preemption puts
the same attempt back in line (admitted once more).
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines import services, states
from pipelines.models import StepRun
from tests.builders import spec, step
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.TRELLIS_RUNS_DIR = tmp_path / "runs"
    settings.TRELLIS_RETRY_BACKOFF_S = 0


@pytest.fixture
def team(make_team):
    return make_team("vision")


@pytest.fixture
def viewer(make_user, team):
    return make_user("vic", team=team, role="viewer")


def start(make_pipeline, team, *steps):
    return services.submit_run(make_pipeline(spec(*steps), team=team), user=None, now=NOW)


def move(run, to: str, at, step_name: str = "train", **kwargs) -> None:
    sr = StepRun.objects.get(run=run, step_name=step_name)
    assert services.transition(sr.pk, to=to, expected=sr.status, attempt=sr.attempt, now=at, **kwargs), (sr, to)


def attempt_runs(run, at, *, node: str, ends: tuple[str, dict]) -> None:
    """The step's current attempt is admitted, runs on ``node`` and ends as ``ends`` says."""
    move(run, states.ADMITTED, at, reason="admitted by fifo", handle=f"job-{at.minute}")
    move(run, states.RUNNING, at + MINUTE, node=node)
    to, kwargs = ends
    move(run, to, at + 2 * MINUTE, **kwargs)


def url(run, step_name: str = "train") -> str:
    return f"/api/runs/{run.pk}/steps/{step_name}/attempts/"


def iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
def failed_twice_then_succeeded(make_pipeline, team):
    run = start(make_pipeline, team, step("train", retries=2))
    attempt_runs(run, NOW, node="node-a", ends=(states.FAILED, {"reason": "exited with code 1", "exit_code": 1}))
    attempt_runs(run, NOW + 10 * MINUTE, node="node-b",
                 ends=(states.FAILED, {"reason": "OOMKilled: memory limit 1024 MiB", "exit_code": 137}))
    attempt_runs(run, NOW + 20 * MINUTE, node="node-c", ends=(states.SUCCEEDED, {"exit_code": 0}))
    return run


def test_a_step_that_failed_twice_then_succeeded_lists_three_attempts_with_their_reasons(
        api, viewer, failed_twice_then_succeeded):
    response = api.as_user(viewer).get(url(failed_twice_then_succeeded))

    assert response.status_code == 200
    assert [(a["attempt"], a["status"], a["reason"], a["exit_code"]) for a in response.json()] == [
        (1, "failed", "exited with code 1", 1),
        (2, "failed", "OOMKilled: memory limit 1024 MiB", 137),
        (3, "succeeded", "", 0),
    ]


def test_each_attempt_has_its_own_times_and_one_admission(api, viewer, failed_twice_then_succeeded):
    first, second, third = api.as_user(viewer).get(url(failed_twice_then_succeeded)).json()

    assert (first["queued_at"], first["started_at"], first["finished_at"]) == (
        iso(NOW), iso(NOW + MINUTE), iso(NOW + 2 * MINUTE))
    # a retry is queued the moment its predecessor fails
    assert (second["queued_at"], second["started_at"], second["finished_at"]) == (
        iso(NOW + 2 * MINUTE), iso(NOW + 11 * MINUTE), iso(NOW + 12 * MINUTE))
    assert third["finished_at"] == iso(NOW + 22 * MINUTE)
    assert [a["admissions"] for a in (first, second, third)] == [1, 1, 1]


def test_only_the_latest_attempt_names_its_node_since_events_do_not_record_one(api, viewer,
                                                                               failed_twice_then_succeeded):
    attempts = api.as_user(viewer).get(url(failed_twice_then_succeeded)).json()

    assert [a["node"] for a in attempts] == [None, None, "node-c"]


def test_a_preempted_then_resumed_attempt_is_listed_once_with_two_admissions(api, viewer, make_pipeline, team):
    run = start(make_pipeline, team, step("train", retries=2))
    move(run, states.ADMITTED, NOW, handle="job-1")
    move(run, states.RUNNING, NOW + MINUTE, node="node-a")
    move(run, states.PREEMPTED, NOW + 2 * MINUTE, reason="preempted: team audio needs gpu 1 of its quota")
    sr = StepRun.objects.get(run=run)
    assert services.requeue_preempted(sr.pk, attempt=1, now=NOW + 3 * MINUTE, ended="exited with code 143")
    move(run, states.ADMITTED, NOW + 4 * MINUTE, handle="job-1-2")
    move(run, states.RUNNING, NOW + 5 * MINUTE, node="node-b")
    move(run, states.SUCCEEDED, NOW + 9 * MINUTE, exit_code=0)

    attempts = api.as_user(viewer).get(url(run)).json()

    assert attempts == [{
        "attempt": 1, "status": "succeeded", "admissions": 2, "exit_code": 0, "reason": "", "node": "node-b",
        "queued_at": iso(NOW), "started_at": iso(NOW + MINUTE), "finished_at": iso(NOW + 9 * MINUTE),
    }]


def test_a_preempted_attempt_back_in_line_says_why_and_has_not_finished(api, viewer, make_pipeline, team):
    run = start(make_pipeline, team, step("train"))
    move(run, states.ADMITTED, NOW, handle="job-1")
    move(run, states.RUNNING, NOW + MINUTE, node="node-a")
    move(run, states.PREEMPTED, NOW + 2 * MINUTE, reason="preempted: team audio needs gpu 1 of its quota")
    assert services.requeue_preempted(StepRun.objects.get(run=run).pk, attempt=1, now=NOW + 3 * MINUTE)

    [attempt] = api.as_user(viewer).get(url(run)).json()

    assert (attempt["status"], attempt["admissions"], attempt["finished_at"]) == ("queued", 1, None)
    assert attempt["reason"].startswith("preempted (team audio needs gpu 1 of its quota); back in its place")


def test_the_next_attempt_waiting_for_its_retry_is_listed_with_the_retry_as_its_reason(api, viewer, make_pipeline,
                                                                                     team):
    run = start(make_pipeline, team, step("train", retries=1))
    attempt_runs(run, NOW, node="node-a", ends=(states.FAILED, {"reason": "exited with code 2", "exit_code": 2}))

    first, second = api.as_user(viewer).get(url(run)).json()

    assert (first["status"], first["reason"]) == ("failed", "exited with code 2")
    assert (second["status"], second["reason"]) == ("queued", "retry 2 of 2 in 0 s after: exited with code 2")
    assert (second["started_at"], second["finished_at"], second["exit_code"], second["admissions"]) == (
        None, None, None, 0)


def test_a_retry_from_failure_starts_a_new_attempt_saying_who_asked(api, viewer, make_pipeline, team):
    run = start(make_pipeline, team, step("train"))
    attempt_runs(run, NOW, node="node-a", ends=(states.FAILED, {"reason": "exited with code 1", "exit_code": 1}))
    assert services.retry_run(run.pk, now=NOW + 5 * MINUTE, user=viewer)

    first, second = api.as_user(viewer).get(url(run)).json()

    assert (first["attempt"], first["status"]) == (1, "failed")
    assert (second["attempt"], second["status"], second["reason"], second["queued_at"]) == (
        2, "queued", "retry from failure requested by vic", iso(NOW + 5 * MINUTE))


def test_a_step_not_scheduled_yet_has_its_first_attempt_pending(api, viewer, make_pipeline, team):
    run = start(make_pipeline, team, step("prepare"), step("train", depends_on=["prepare"]))

    response = api.as_user(viewer).get(url(run))

    assert response.json() == [{"attempt": 1, "status": "pending", "queued_at": None, "started_at": None,
                                "finished_at": None, "node": None, "exit_code": None, "reason": "", "admissions": 0}]


def test_the_number_of_queries_does_not_grow_with_the_attempts(api, viewer, make_pipeline, team,
                                                               failed_twice_then_succeeded):
    client = api.as_user(viewer)
    once = services.submit_run(make_pipeline(spec(step("train")), team=team, name="once"), user=None, now=NOW)
    attempt_runs(once, NOW, node="node-a", ends=(states.SUCCEEDED, {"exit_code": 0}))

    with CaptureQueriesContext(connection) as one_attempt:
        assert len(client.get(url(once)).json()) == 1
    with CaptureQueriesContext(connection) as three_attempts:
        assert len(client.get(url(failed_twice_then_succeeded)).json()) == 3

    assert len(three_attempts) == len(one_attempt) <= 4


# -- who may read, and what is not there -------------------------------------------------------


def test_an_editor_and_a_viewer_of_the_team_read_the_attempts(api, make_user, team, viewer,
                                                             failed_twice_then_succeeded):
    editor = make_user("ada", team=team, role="editor")

    assert api.as_user(editor).get(url(failed_twice_then_succeeded)).status_code == 200
    assert api.as_user(viewer).get(url(failed_twice_then_succeeded)).status_code == 200


def test_another_teams_run_is_a_404(api, make_team, make_user, failed_twice_then_succeeded):
    stranger = make_user("sam", team=make_team("audio"), role="admin")

    response = api.as_user(stranger).get(url(failed_twice_then_succeeded))

    assert response.status_code == 404


def test_an_anonymous_caller_is_refused_with_a_403(api, failed_twice_then_succeeded):
    assert api.get(url(failed_twice_then_succeeded)).status_code == 403


def test_an_unknown_step_is_a_404_naming_it(api, viewer, failed_twice_then_succeeded):
    run = failed_twice_then_succeeded

    response = api.as_user(viewer).get(url(run, "nope"))

    assert response.status_code == 404
    assert response.json() == {"detail": f"run {run.pk} has no step 'nope'"}


def test_an_unknown_run_is_a_404(api, viewer):
    assert api.as_user(viewer).get("/api/runs/424242/steps/train/attempts/").status_code == 404


def test_writing_to_the_attempts_is_not_allowed(api, viewer, failed_twice_then_succeeded):
    response = api.as_user(viewer).post(url(failed_twice_then_succeeded), {}, format="json")

    assert response.status_code == 405


def test_the_openapi_schema_documents_the_attempts_of_a_step(api):
    schema = json.loads(api.get("/api/schema/", {"format": "json"}).content)

    get = schema["paths"]["/api/runs/{id}/steps/{step}/attempts/"]["get"]
    answer = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}}
    assert "404" in get["responses"]
    fields = schema["components"]["schemas"]["Attempt"]["properties"]
    assert set(fields) == {"attempt", "status", "queued_at", "started_at", "finished_at", "node", "exit_code",
                           "reason", "admissions"}
