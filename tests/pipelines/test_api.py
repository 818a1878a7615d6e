"""The REST API: status codes, shapes and what each write leaves in the database."""
from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from pipelines import services, states
from pipelines.models import Pipeline, PipelineVersion, Run, Step, StepRun
from pipelines.spec import NodeLimits, spec_to_dict
from tests.builders import chain, spec, step

pytestmark = pytest.mark.django_db


def small_node() -> NodeLimits:
    """The cluster's largest node in these tests (named by the TRELLIS_NODE_LIMITS setting)."""
    return NodeLimits(cpu=4, memory_mb=8192, gpu=1)


@pytest.fixture(autouse=True)
def _small_cluster(settings, tmp_path):
    settings.TRELLIS_NODE_LIMITS = f"{__name__}.small_node"
    settings.TRELLIS_RUNS_DIR = tmp_path / "runs"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users


@pytest.fixture
def team(make_team):
    return make_team("vision")


@pytest.fixture
def other_team(make_team):
    return make_team("audio")


@pytest.fixture
def editor(make_user, team):
    return make_user("ada", team=team, role="editor")


@pytest.fixture
def viewer(make_user, team):
    return make_user("vic", team=team, role="viewer")


@pytest.fixture
def stranger(make_user, other_team):
    return make_user("sam", team=other_team, role="admin")


def diamond() -> dict:
    """fetch and prepare are roots; train waits for both; evaluate waits for train."""
    return spec_to_dict(spec(
        step("prepare", outputs=["dataset"]),
        step("fetch"),
        step("train", inputs={"data": "prepare.dataset"}, depends_on=["fetch"], outputs=["model"]),
        step("evaluate", inputs={"model": "train.model"}),
    ))


def new_pipeline(team, user, name="digits", spec_dict=None) -> Pipeline:
    return services.create_pipeline(team=team, name=name, spec=spec_dict or diamond(), user=user)


def post(client, url, data=None):
    return client.post(url, data, format="json")


def finish(run: Run, now) -> None:
    """Drive every step run of ``run`` to succeeded, in dependency order."""
    while pending := list(StepRun.objects.filter(run=run, status=states.QUEUED)):
        for sr in pending:
            for to in (states.ADMITTED, states.RUNNING, states.SUCCEEDED):
                assert services.transition(sr.pk, to=to, now=now)


# -- auth ----------------------------------------------------------------------------------------


def test_session_is_null_when_signed_out_and_sets_the_csrf_cookie(api):
    response = api.get("/api/auth/session/")

    assert response.status_code == 200
    assert response.json() == {"user": None}
    assert response.cookies["csrftoken"].value


def test_login_with_the_right_password_starts_a_session(api, editor):
    response = post(api, "/api/auth/login/", {"username": "ada", "password": "pw-ada"})

    assert response.status_code == 200
    assert response.json() == {"user": {"id": editor.pk, "username": "ada"}}
    assert api.get("/api/auth/session/").json()["user"]["username"] == "ada"
    assert api.get("/api/runs/").status_code == 200


def test_login_with_a_wrong_password_is_a_400(api, editor):
    response = post(api, "/api/auth/login/", {"username": "ada", "password": "nope"})

    assert response.status_code == 400
    assert response.json() == {"detail": "Wrong username or password."}


def test_login_without_a_username_is_a_400_naming_the_field(api):
    response = post(api, "/api/auth/login/", {"password": "x"})

    assert response.status_code == 400
    assert "username" in response.json()


def test_login_needs_the_csrf_token_the_session_endpoint_hands_out(editor):
    client = APIClient(enforce_csrf_checks=True)
    body = {"username": "ada", "password": "pw-ada"}

    refused = client.post("/api/auth/login/", body, format="json")
    token = client.get("/api/auth/session/").cookies["csrftoken"].value
    accepted = client.post("/api/auth/login/", body, format="json", HTTP_X_CSRFTOKEN=token)

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 200


def test_logout_ends_the_session_with_a_204(api, editor):
    post(api, "/api/auth/login/", {"username": "ada", "password": "pw-ada"})

    response = post(api, "/api/auth/logout/")

    assert response.status_code == 204
    assert api.get("/api/auth/session/").json() == {"user": None}
    assert api.get("/api/runs/").status_code == 403


def test_a_token_from_the_token_endpoint_authenticates_api_calls(api, editor, team):
    new_pipeline(team, editor)
    token = post(api, "/api/auth/token/", {"username": "ada", "password": "pw-ada"}).json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/pipelines/")

    assert response.status_code == 200
    assert [p["name"] for p in response.json()["results"]] == ["digits"]


def test_the_token_endpoint_refuses_a_wrong_password(api, editor):
    response = post(api, "/api/auth/token/", {"username": "ada", "password": "nope"})

    assert response.status_code == 400
    assert "token" not in response.json()


def test_a_wrong_token_is_refused(api):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    response = client.get("/api/runs/")

    # Session authentication comes first in settings, so DRF answers 403 rather than 401.
    assert response.status_code in (401, 403)
    assert response.json()["detail"] == "Invalid token."


@pytest.mark.parametrize("method, url", [
    ("get", "/api/teams/"),
    ("get", "/api/pipelines/"),
    ("post", "/api/pipelines/"),
    ("post", "/api/pipelines/validate/"),
    ("get", "/api/pipelines/1/"),
    ("get", "/api/pipelines/1/versions/"),
    ("post", "/api/pipelines/1/versions/"),
    ("get", "/api/pipelines/1/versions/1/"),
    ("get", "/api/runs/"),
    ("post", "/api/runs/"),
    ("get", "/api/runs/1/"),
    ("post", "/api/runs/1/cancel/"),
    ("get", "/api/runs/1/steps/a/log/"),
], ids=lambda v: v if v.startswith("/") else v.upper())
def test_every_endpoint_refuses_an_anonymous_caller_with_403(api, method, url):
    response = getattr(api, method)(url, {}, format="json") if method == "post" else api.get(url)

    assert response.status_code == 403


# -- pipelines -----------------------------------------------------------------------------------


def test_pipeline_list_shows_only_my_teams_pipelines_with_their_latest_version(api, team, other_team, editor, stranger):
    mine = new_pipeline(team, editor, "digits")
    services.save_version(mine, spec=diamond(), user=editor, message="second")
    new_pipeline(other_team, stranger, "speech")

    response = api.as_user(editor).get("/api/pipelines/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item["id"] == mine.pk
    assert item["team"] == {"id": team.pk, "name": "vision"}
    assert item["name"] == "digits"
    assert item["latest_version"]["number"] == 2
    assert item["latest_version"]["message"] == "second"
    assert item["latest_version"]["created_by"] == "ada"
    assert set(item) == {"id", "team", "name", "description", "latest_version", "created_at"}


def test_pipeline_list_filters_by_team(api, make_team, team, editor):
    second = make_team("nlp")
    editor.memberships.create(team=second, role="editor")
    new_pipeline(team, editor, "digits")
    new_pipeline(second, editor, "parse")

    response = api.as_user(editor).get("/api/pipelines/", {"team": second.pk})

    assert [p["name"] for p in response.json()["results"]] == ["parse"]


def test_pipeline_list_with_a_team_filter_that_is_not_a_number_is_a_400(api, editor):
    response = api.as_user(editor).get("/api/pipelines/", {"team": "vision"})

    assert response.status_code == 400
    assert "team" in response.json()


def test_editor_creates_a_pipeline_with_its_first_version(api, team, editor):
    body = {"team": team.pk, "name": "digits", "description": "8x8 digits", "spec": diamond(), "message": "first"}

    response = post(api.as_user(editor), "/api/pipelines/", body)

    assert response.status_code == 201
    data = response.json()
    pipeline = Pipeline.objects.get(pk=data["id"])
    assert (pipeline.team, pipeline.name, pipeline.description, pipeline.created_by) == (team, "digits", "8x8 digits", editor)
    assert data["latest_version"]["number"] == 1
    assert data["latest_version"]["message"] == "first"
    assert [v["number"] for v in data["versions"]] == [1]
    assert [s["name"] for s in data["spec"]["steps"]] == ["prepare", "fetch", "train", "evaluate"]
    assert sorted(Step.objects.filter(version__pipeline=pipeline).values_list("name", flat=True)) == [
        "evaluate", "fetch", "prepare", "train"]


def test_viewer_cannot_create_a_pipeline(api, team, viewer):
    response = post(api.as_user(viewer), "/api/pipelines/", {"team": team.pk, "name": "digits", "spec": diamond()})

    assert response.status_code == 403
    assert not Pipeline.objects.exists()


def test_creating_a_pipeline_in_a_team_i_do_not_belong_to_is_a_400_on_team(api, other_team, editor):
    response = post(api.as_user(editor), "/api/pipelines/", {"team": other_team.pk, "name": "x", "spec": diamond()})

    assert response.status_code == 400
    assert response.json() == {"team": ["No such team."]}


def test_a_duplicate_pipeline_name_in_a_team_is_a_400(api, team, editor):
    new_pipeline(team, editor, "digits")

    response = post(api.as_user(editor), "/api/pipelines/", {"team": team.pk, "name": "digits", "spec": diamond()})

    assert response.status_code == 400
    assert "already has a pipeline named 'digits'" in response.json()["name"][0]


def test_a_pipeline_with_a_cycle_is_a_400_naming_the_cycle(api, team, editor):
    cyclic = spec_to_dict(spec(step("a", depends_on=["b"]), step("b", depends_on=["a"])))

    response = post(api.as_user(editor), "/api/pipelines/", {"team": team.pk, "name": "loop", "spec": cyclic})

    assert response.status_code == 400
    problems = response.json()["spec"]
    assert any(p["code"] == "cycle" and "a -> b -> a" in p["message"] for p in problems)
    assert not Pipeline.objects.exists()


def test_a_step_larger_than_the_largest_node_is_a_400(api, team, editor):
    big = spec_to_dict(spec(step("train", resources={"gpu": 2})))

    response = post(api.as_user(editor), "/api/pipelines/", {"team": team.pk, "name": "big", "spec": big})

    assert response.status_code == 400
    [problem] = response.json()["spec"]
    assert problem["code"] == "exceeds_node"
    assert problem["message"] == "step 'train' asks for 2 gpu but the largest node has 1"


def test_a_malformed_json_body_is_a_400(api, team, editor):
    response = api.as_user(editor).post("/api/pipelines/", '{"team": 1, "spec": {', content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_json_body_that_is_not_an_object_is_a_400(api, editor):
    response = api.as_user(editor).post("/api/pipelines/", "[1, 2]", content_type="application/json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_a_json_body_nested_too_deeply_to_decode_is_a_400(api, editor):
    response = api.as_user(editor).post("/api/pipelines/validate/", "[" * 100_000 + "]" * 100_000,
                                        content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_upload_limit_is_a_413(api, editor, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"spec": {"steps": [{"name": "a", "command": ["x" * 2000]}]}}

    response = post(api.as_user(editor), "/api/pipelines/validate/", body)

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the server accepts."}


def test_a_form_encoded_body_is_refused_as_unsupported(api, team, editor):
    response = api.as_user(editor).post("/api/pipelines/", {"team": team.pk, "name": "x"})

    assert response.status_code == 415


MALFORMED_SPECS = {
    "spec is a list": ([], "spec"),
    "spec is a string": ("steps", "spec"),
    "spec has no steps": ({}, "steps"),
    "steps is an object": ({"steps": {"name": "a"}}, "steps"),
    "steps is a string": ({"steps": "a,b"}, "steps"),
    "a step is a string": ({"steps": ["a"]}, "steps"),
    "a step has no name": ({"steps": [{"command": ["true"]}]}, "name"),
    "a step name is a number": ({"steps": [{"name": 5}]}, "name"),
    "a command is a string": ({"steps": [{"name": "a", "command": "python train.py"}]}, "command"),
    "a command holds a number": ({"steps": [{"name": "a", "command": ["sleep", 5]}]}, "command"),
    "cpu is a string": ({"steps": [{"name": "a", "resources": {"cpu": "2"}}]}, "cpu"),
    "gpu is a fraction": ({"steps": [{"name": "a", "resources": {"gpu": 0.5}}]}, "gpu"),
    "memory is huge": ({"steps": [{"name": "a", "resources": {"memory_mb": 10**30}}]}, "memory_mb"),
    "cpu is huge": ({"steps": [{"name": "a", "resources": {"cpu": 1e300}}]}, "cpu"),
    "retries is a boolean": ({"steps": [{"name": "a", "retries": True}]}, "retries"),
    "retries is absurd": ({"steps": [{"name": "a", "retries": 10**6}]}, "retries"),
    "env is a list": ({"steps": [{"name": "a", "env": ["A=1"]}]}, "env"),
    "an env value is a number": ({"steps": [{"name": "a", "env": {"A": 1}}]}, "env"),
    "inputs is a string": ({"steps": [{"name": "a", "inputs": "b.x"}]}, "inputs"),
    "outputs is an object": ({"steps": [{"name": "a", "outputs": {"x": 1}}]}, "outputs"),
    "depends_on is a string": ({"steps": [{"name": "a", "depends_on": "b"}]}, "depends_on"),
    "resources is a list": ({"steps": [{"name": "a", "resources": [1]}]}, "resources"),
    "position is a number": ({"steps": [{"name": "a", "position": 3}]}, "position"),
    "a name holds a NUL": ({"steps": [{"name": "a\x00"}]}, "name"),
    "the image is too long": ({"steps": [{"name": "a", "image": "x" * 400}]}, "image"),
}


@pytest.mark.parametrize("bad_spec, field", MALFORMED_SPECS.values(), ids=MALFORMED_SPECS.keys())
@pytest.mark.parametrize("where", ["create", "save version", "validate"])
def test_a_malformed_spec_is_a_400_naming_the_field(api, team, editor, bad_spec, field, where):
    client = api.as_user(editor)
    if where == "create":
        response = post(client, "/api/pipelines/", {"team": team.pk, "name": "x", "spec": bad_spec})
    elif where == "save version":
        pipeline = new_pipeline(team, editor)
        response = post(client, f"/api/pipelines/{pipeline.pk}/versions/", {"spec": bad_spec})
    else:
        response = post(client, "/api/pipelines/validate/", {"spec": bad_spec})

    assert response.status_code == 400
    assert "spec" in response.json()
    assert field in json.dumps(response.json()["spec"]) or field == "spec"


@pytest.mark.parametrize("url, body", [
    ("/api/pipelines/validate/", r'{"spec": {"steps": [{"name": "a", "env": {"\ud800": "x"}}]}}'),
    ("/api/pipelines/validate/", r'{"spec": {"steps": [{"name": "\ud800"}]}}'),
    ("/api/runs/", r'{"pipeline": 1, "parameters": {"\ud800": 1}}'),
], ids=["env name", "step name", "parameter name"])
def test_a_lone_surrogate_in_a_name_or_key_is_a_400_not_a_500(api, editor, url, body):
    response = api.as_user(editor).post(url, body, content_type="application/json")

    assert response.status_code == 400
    assert "ud800" in response.content.decode() or "U+D800" in response.content.decode()


def test_pipeline_detail_has_the_latest_spec_and_every_version_newest_first(api, team, editor):
    pipeline = new_pipeline(team, editor)
    services.save_version(pipeline, spec=spec_to_dict(chain("a", "b")), user=editor, message="shorter")

    response = api.as_user(editor).get(f"/api/pipelines/{pipeline.pk}/")

    assert response.status_code == 200
    data = response.json()
    assert [s["name"] for s in data["spec"]["steps"]] == ["a", "b"]
    assert [(v["number"], v["message"]) for v in data["versions"]] == [(2, "shorter"), (1, "created")]
    assert data["latest_version"]["number"] == 2


@pytest.mark.parametrize("path", ["", "versions/", "versions/1/"])
def test_another_teams_pipeline_is_a_404(api, other_team, stranger, editor, path):
    theirs = new_pipeline(other_team, stranger)

    response = api.as_user(editor).get(f"/api/pipelines/{theirs.pk}/{path}")

    assert response.status_code == 404


def test_saving_a_version_of_another_teams_pipeline_is_a_404(api, other_team, stranger, editor):
    theirs = new_pipeline(other_team, stranger)

    response = post(api.as_user(editor), f"/api/pipelines/{theirs.pk}/versions/", {"spec": diamond()})

    assert response.status_code == 404
    assert theirs.versions.count() == 1


def test_an_unknown_pipeline_is_a_404(api, editor):
    assert api.as_user(editor).get("/api/pipelines/999999/").status_code == 404
    assert api.as_user(editor).get(f"/api/pipelines/{10**30}/").status_code == 404


# -- versions ------------------------------------------------------------------------------------


def test_versions_are_numbered_1_2_3_and_saving_never_changes_an_older_one(api, team, editor):
    client = api.as_user(editor)
    pipeline = new_pipeline(team, editor)
    first = PipelineVersion.objects.get(pipeline=pipeline, number=1)
    first_spec, first_steps = first.spec, list(first.steps.values_list("name", flat=True))

    second = post(client, f"/api/pipelines/{pipeline.pk}/versions/", {"spec": spec_to_dict(chain("a", "b")), "message": "two"})
    third = post(client, f"/api/pipelines/{pipeline.pk}/versions/", {"spec": spec_to_dict(chain("x")), "message": "three"})

    assert (second.status_code, third.status_code) == (201, 201)
    assert (second.json()["number"], third.json()["number"]) == (2, 3)
    assert second.json()["message"] == "two"
    assert second.json()["created_by"] == "ada"
    assert [s["name"] for s in second.json()["spec"]["steps"]] == ["a", "b"]
    assert set(third.json()) == {"number", "message", "created_by", "created_at", "spec"}
    first.refresh_from_db()
    assert first.spec == first_spec
    assert list(first.steps.values_list("name", flat=True)) == first_steps
    listed = client.get(f"/api/pipelines/{pipeline.pk}/versions/").json()["results"]
    assert [v["number"] for v in listed] == [3, 2, 1]


def test_an_invalid_spec_saves_no_version(api, team, editor):
    pipeline = new_pipeline(team, editor)
    dangling = spec_to_dict(spec(step("train", inputs={"data": "prepare.dataset"})))

    response = post(api.as_user(editor), f"/api/pipelines/{pipeline.pk}/versions/", {"spec": dangling})

    assert response.status_code == 400
    assert [p["code"] for p in response.json()["spec"]] == ["unknown_producer"]
    assert pipeline.versions.count() == 1


def test_viewer_reads_versions_but_cannot_save_one(api, team, editor, viewer):
    pipeline = new_pipeline(team, editor)
    client = api.as_user(viewer)

    saved = post(client, f"/api/pipelines/{pipeline.pk}/versions/", {"spec": diamond()})

    assert saved.status_code == 403
    assert pipeline.versions.count() == 1
    assert client.get(f"/api/pipelines/{pipeline.pk}/versions/").status_code == 200
    assert client.get(f"/api/pipelines/{pipeline.pk}/versions/1/").status_code == 200
    assert client.get(f"/api/pipelines/{pipeline.pk}/").status_code == 200


def test_version_detail_has_its_spec_and_plan(api, team, editor):
    pipeline = new_pipeline(team, editor)

    response = api.as_user(editor).get(f"/api/pipelines/{pipeline.pk}/versions/1/")

    assert response.status_code == 200
    data = response.json()
    assert data["number"] == 1
    assert [s["name"] for s in data["spec"]["steps"]] == ["prepare", "fetch", "train", "evaluate"]
    assert data["plan"]["is_valid"] is True
    assert data["plan"]["layers"] == [["prepare", "fetch"], ["train"], ["evaluate"]]


def test_an_unknown_version_number_is_a_404(api, team, editor):
    pipeline = new_pipeline(team, editor)

    assert api.as_user(editor).get(f"/api/pipelines/{pipeline.pk}/versions/7/").status_code == 404


# -- validate ------------------------------------------------------------------------------------


def test_validate_answers_the_plan_of_a_valid_spec(api, editor):
    response = post(api.as_user(editor), "/api/pipelines/validate/", {"spec": diamond()})

    assert response.status_code == 200
    plan = response.json()
    assert plan["is_valid"] is True
    assert plan["problems"] == []
    assert plan["layers"] == [["prepare", "fetch"], ["train"], ["evaluate"]]
    assert plan["critical_path"]["steps"] == ["prepare", "train", "evaluate"]


def test_validate_reports_a_well_formed_but_invalid_spec_with_a_200(api, viewer):
    cyclic = spec_to_dict(spec(step("a", depends_on=["b"]), step("b", depends_on=["a"]), step("Bad_Name")))

    response = post(api.as_user(viewer), "/api/pipelines/validate/", {"spec": cyclic})

    assert response.status_code == 200
    plan = response.json()
    assert plan["is_valid"] is False
    codes = {p["code"]: p for p in plan["problems"]}
    assert codes["cycle"]["message"] == "cycle: a -> b -> a"
    assert codes["invalid_name"]["field"] == "steps[2].name"
    assert plan["layers"] == []


def test_validate_checks_step_sizes_against_the_largest_node(api, editor):
    big = spec_to_dict(spec(step("train", resources={"cpu": 16, "memory_mb": 1024})))

    plan = post(api.as_user(editor), "/api/pipelines/validate/", {"spec": big}).json()

    assert [p["message"] for p in plan["problems"]] == ["step 'train' asks for 16 cpu but the largest node has 4"]


def test_validate_takes_a_spec_with_only_names_and_fills_in_defaults(api, editor):
    response = post(api.as_user(editor), "/api/pipelines/validate/", {"spec": {"steps": [{"name": "a"}]}})

    assert response.status_code == 200
    assert [p["code"] for p in response.json()["problems"]] == ["empty_command"]


def test_validate_of_an_empty_step_list_reports_an_empty_pipeline(api, editor):
    response = post(api.as_user(editor), "/api/pipelines/validate/", {"spec": {"steps": []}})

    assert response.status_code == 200
    assert [p["code"] for p in response.json()["problems"]] == ["empty"]


def test_node_limits_come_from_the_executors_largest_node(settings):
    from pipelines.limits import node_limits
    from scheduling.executors import get_executor

    settings.TRELLIS_NODE_LIMITS = "scheduling.capacity.node_limits"
    largest = get_executor().capacity().largest_node

    assert node_limits() == NodeLimits(cpu=largest.cpu, memory_mb=largest.memory_mb, gpu=largest.gpu)
    settings.TRELLIS_NODE_LIMITS = None
    assert node_limits() is None


# -- runs ----------------------------------------------------------------------------------------


def test_submitting_a_run_queues_its_root_steps_and_leaves_the_rest_pending(api, team, editor):
    pipeline = new_pipeline(team, editor)

    response = post(api.as_user(editor), "/api/runs/", {"pipeline": pipeline.pk, "parameters": {"epochs": 3, "lr": 0.1}})

    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "queued"
    assert data["pipeline"] == {"id": pipeline.pk, "name": "digits"}
    assert data["team"] == {"id": team.pk, "name": "vision"}
    assert data["version"] == 1
    assert data["created_by"] == "ada"
    assert data["parameters"] == {"epochs": 3, "lr": 0.1}
    assert data["last_seq"] == 2
    assert data["workdir"].endswith(f"/runs/{data['id']}")
    by_step = {s["step"]: s["status"] for s in data["step_runs"]}
    assert by_step == {"prepare": "queued", "fetch": "queued", "train": "pending", "evaluate": "pending"}
    assert [s["step"] for s in data["step_runs"]] == ["prepare", "fetch", "train", "evaluate"]
    rows = dict(StepRun.objects.filter(run_id=data["id"]).values_list("step_name", "status"))
    assert rows == by_step


def test_a_run_of_an_older_version_runs_that_versions_spec(api, team, editor):
    pipeline = new_pipeline(team, editor)
    services.save_version(pipeline, spec=spec_to_dict(chain("a", "b")), user=editor)

    response = post(api.as_user(editor), "/api/runs/", {"pipeline": pipeline.pk, "version": 1, "priority": -5})

    assert response.status_code == 201
    data = response.json()
    assert data["version"] == 1
    assert data["priority"] == -5
    assert [s["name"] for s in data["spec"]["steps"]] == ["prepare", "fetch", "train", "evaluate"]


@pytest.mark.parametrize("body, field", [
    ({}, "pipeline"),
    ({"pipeline": 999999}, "pipeline"),
    ({"pipeline": "digits"}, "pipeline"),
    ({"pipeline": True}, "pipeline"),
    ({"pipeline": 10**30}, "pipeline"),
    ({"version": 9}, "version"),
    ({"version": 0}, "version"),
    ({"priority": "high"}, "priority"),
    ({"priority": 10**12}, "priority"),
    ({"parameters": [1, 2]}, "parameters"),
    ({"parameters": {"epochs": [1, 2]}}, "parameters"),
    ({"parameters": {"opts": {"a": 1}}}, "parameters"),
    ({"parameters": {"1st": 1}}, "parameters"),
    ({"parameters": {"learning-rate": 1}}, "parameters"),
    ({"parameters": {"lr": 1, "LR": 2}}, "parameters"),
    ({"parameters": {"n": 10**40}}, "parameters"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else v)
def test_a_bad_run_submission_is_a_400_naming_the_field(api, team, editor, body, field):
    pipeline = new_pipeline(team, editor)
    body = {"pipeline": pipeline.pk, **body} if "pipeline" not in body and body else body

    response = post(api.as_user(editor), "/api/runs/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert not Run.objects.exists()


def test_submitting_a_run_of_another_teams_pipeline_is_a_400_on_pipeline(api, other_team, stranger, editor):
    theirs = new_pipeline(other_team, stranger)

    response = post(api.as_user(editor), "/api/runs/", {"pipeline": theirs.pk})

    assert response.status_code == 400
    assert response.json() == {"pipeline": ["No such pipeline."]}


def test_viewer_cannot_submit_a_run(api, team, editor, viewer):
    pipeline = new_pipeline(team, editor)

    response = post(api.as_user(viewer), "/api/runs/", {"pipeline": pipeline.pk})

    assert response.status_code == 403
    assert not Run.objects.exists()


def test_a_version_that_no_longer_fits_the_cluster_is_a_400_on_submit(api, settings, team, editor):
    pipeline = new_pipeline(team, editor, spec_dict=spec_to_dict(spec(step("train", resources={"cpu": 3}))))
    settings.TRELLIS_NODE_LIMITS = None
    services.save_version(pipeline, spec=spec_to_dict(spec(step("train", resources={"cpu": 8}))), user=editor)
    settings.TRELLIS_NODE_LIMITS = f"{__name__}.small_node"

    response = post(api.as_user(editor), "/api/runs/", {"pipeline": pipeline.pk})

    assert response.status_code == 400
    assert [p["code"] for p in response.json()["spec"]] == ["exceeds_node"]


def test_run_list_shows_my_teams_runs_newest_first_and_filters(api, team, other_team, editor, stranger, now):
    digits = new_pipeline(team, editor, "digits")
    other = new_pipeline(team, editor, "other")
    first = services.submit_run(digits, user=editor, now=now)
    second = services.submit_run(digits, user=editor, now=now)
    third = services.submit_run(other, user=editor, now=now)
    services.submit_run(new_pipeline(other_team, stranger, "speech"), user=stranger, now=now)
    services.cancel_run(second.pk, now=now)
    client = api.as_user(editor)

    everything = client.get("/api/runs/").json()
    of_digits = client.get("/api/runs/", {"pipeline": digits.pk}).json()
    cancelled = client.get("/api/runs/", {"status": "cancelled"}).json()

    assert [r["id"] for r in everything["results"]] == [third.pk, second.pk, first.pk]
    assert [r["id"] for r in of_digits["results"]] == [second.pk, first.pk]
    assert [r["id"] for r in cancelled["results"]] == [second.pk]
    item = everything["results"][0]
    assert set(item) == {"id", "pipeline", "team", "version", "status", "reason", "created_by", "created_at",
                         "started_at", "finished_at"}
    assert item["pipeline"] == {"id": other.pk, "name": "other"}


@pytest.mark.parametrize("query", [{"status": "sleeping"}, {"pipeline": "x"}, {"pipeline": -1}])
def test_run_list_with_a_bad_filter_is_a_400(api, editor, query):
    response = api.as_user(editor).get("/api/runs/", query)

    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_run_list_pages_with_limit_and_offset(api, team, editor, now):
    pipeline = new_pipeline(team, editor)
    runs = [services.submit_run(pipeline, user=editor, now=now) for _ in range(3)]

    page = api.as_user(editor).get("/api/runs/", {"limit": 2, "offset": 1}).json()

    assert page["count"] == 3
    assert [r["id"] for r in page["results"]] == [runs[1].pk, runs[0].pk]


def test_run_detail_has_step_runs_in_spec_order(api, team, editor, now):
    order = spec(step("zeta"), step("alpha", depends_on=["zeta"]), step("mid", depends_on=["alpha"]))
    run = services.submit_run(new_pipeline(team, editor, spec_dict=spec_to_dict(order)), user=editor, now=now)

    response = api.as_user(editor).get(f"/api/runs/{run.pk}/")

    assert response.status_code == 200
    data = response.json()
    assert [s["step"] for s in data["step_runs"]] == ["zeta", "alpha", "mid"]
    assert set(data["step_runs"][0]) == {"id", "step", "status", "attempt", "max_attempts", "queued_at",
                                         "started_at", "finished_at", "exit_code", "reason", "node"}
    assert {"spec", "parameters", "priority", "last_seq", "workdir"} <= set(data)


def test_the_run_detail_serializer_gives_the_websocket_a_json_plain_snapshot(team, editor, now):
    from pipelines.api.serializers import RunDetailSerializer

    run = services.submit_run(new_pipeline(team, editor), user=editor, now=now)

    data = json.loads(json.dumps(RunDetailSerializer(Run.objects.get(pk=run.pk)).data))

    assert data["id"] == run.pk
    assert data["last_seq"] == 2
    assert data["created_at"].endswith("Z")
    assert len(data["step_runs"]) == 4


@pytest.mark.parametrize("method, path", [("get", ""), ("post", "cancel/"), ("get", "steps/prepare/log/")])
def test_another_teams_run_is_a_404(api, other_team, stranger, editor, now, method, path):
    run = services.submit_run(new_pipeline(other_team, stranger), user=stranger, now=now)

    response = getattr(api.as_user(editor), method)(f"/api/runs/{run.pk}/{path}")

    assert response.status_code == 404
    run.refresh_from_db()
    assert run.status == "queued"


def test_cancelling_a_run_moves_every_step_and_the_run_to_cancelled(api, team, editor, now):
    run = services.submit_run(new_pipeline(team, editor), user=editor, now=now)

    response = post(api.as_user(editor), f"/api/runs/{run.pk}/cancel/")

    assert response.status_code == 202
    data = response.json()
    assert data["status"] == "cancelled"
    assert {s["status"] for s in data["step_runs"]} == {"cancelled"}
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert set(StepRun.objects.filter(run=run).values_list("status", flat=True)) == {"cancelled"}


def test_cancelling_a_finished_run_is_a_409(api, team, editor, now):
    run = services.submit_run(new_pipeline(team, editor, spec_dict=spec_to_dict(chain("a", "b"))), user=editor, now=now)
    finish(run, now)

    response = post(api.as_user(editor), f"/api/runs/{run.pk}/cancel/")

    assert response.status_code == 409
    assert response.json() == {"detail": f"run {run.pk} is already succeeded"}


def test_viewer_reads_a_run_but_cannot_cancel_it(api, team, editor, viewer, now):
    run = services.submit_run(new_pipeline(team, editor), user=editor, now=now)
    client = api.as_user(viewer)

    assert client.get(f"/api/runs/{run.pk}/").status_code == 200
    assert client.get("/api/runs/").json()["count"] == 1
    assert post(client, f"/api/runs/{run.pk}/cancel/").status_code == 403
    run.refresh_from_db()
    assert run.status == "queued"


def test_an_unknown_run_is_a_404(api, editor):
    assert api.as_user(editor).get("/api/runs/424242/").status_code == 404
    assert post(api.as_user(editor), "/api/runs/424242/cancel/").status_code == 404


# -- logs ----------------------------------------------------------------------------------------


@pytest.fixture
def logged_run(team, editor, now, tmp_path):
    """A run whose step 'a' has written a log: ASCII, then 'é' (2 bytes), then more."""
    run = services.submit_run(new_pipeline(team, editor, spec_dict=spec_to_dict(chain("a", "b"))), user=editor, now=now)
    log = tmp_path / "a.1.log"
    log.write_bytes("step one\ncafé\ndone\n".encode())
    StepRun.objects.filter(run=run, step_name="a").update(log_path=str(log))
    return run


def test_a_log_is_read_from_a_byte_offset(api, editor, logged_run):
    client = api.as_user(editor)
    url = f"/api/runs/{logged_run.pk}/steps/a/log/"

    whole = client.get(url).json()
    rest = client.get(url, {"offset": 9}).json()

    assert whole == {"text": "step one\ncafé\ndone\n", "offset": 0, "next_offset": 20, "is_complete": False}
    assert rest == {"text": "café\ndone\n", "offset": 9, "next_offset": 20, "is_complete": False}


def test_a_log_chunk_leaves_a_cut_character_for_the_next_chunk(api, editor, logged_run):
    client = api.as_user(editor)
    url = f"/api/runs/{logged_run.pk}/steps/a/log/"

    first = client.get(url, {"offset": 9, "limit": 4}).json()  # "caf" and the first byte of "é"
    second = client.get(url, {"offset": first["next_offset"], "limit": 4}).json()

    assert (first["text"], first["next_offset"]) == ("caf", 12)
    assert (second["text"], second["next_offset"]) == ("é\nd", 16)


def test_the_log_of_a_finished_step_is_complete_at_its_end(api, editor, logged_run, now):
    sr = StepRun.objects.get(run=logged_run, step_name="a")
    for to in (states.ADMITTED, states.RUNNING, states.FAILED):
        assert services.transition(sr.pk, to=to, now=now)
    client = api.as_user(editor)
    url = f"/api/runs/{logged_run.pk}/steps/a/log/"

    start = client.get(url, {"limit": 5}).json()
    end = client.get(url, {"offset": 5}).json()
    past = client.get(url, {"offset": 500}).json()

    assert (start["text"], start["is_complete"]) == ("step ", False)
    assert (end["next_offset"], end["is_complete"]) == (20, True)
    assert past == {"text": "", "offset": 20, "next_offset": 20, "is_complete": True}


def test_a_step_without_a_log_yet_reads_empty_and_incomplete(api, editor, logged_run):
    response = api.as_user(editor).get(f"/api/runs/{logged_run.pk}/steps/b/log/")

    assert response.status_code == 200
    assert response.json() == {"text": "", "offset": 0, "next_offset": 0, "is_complete": False}


def test_a_log_of_undecodable_bytes_reads_with_replacement_characters(api, editor, logged_run, tmp_path):
    log = tmp_path / "bin.log"
    log.write_bytes(b"ok\xff\xfe!")
    StepRun.objects.filter(run=logged_run, step_name="a").update(log_path=str(log))

    chunk = api.as_user(editor).get(f"/api/runs/{logged_run.pk}/steps/a/log/").json()

    assert chunk["text"] == "ok\ufffd\ufffd!"
    assert chunk["next_offset"] == 5


def test_the_log_of_an_unknown_step_is_a_404(api, editor, logged_run):
    assert api.as_user(editor).get(f"/api/runs/{logged_run.pk}/steps/nope/log/").status_code == 404


@pytest.mark.parametrize("query", [{"offset": -1}, {"offset": "x"}, {"limit": 0}, {"limit": 10**9}])
def test_a_log_request_with_a_bad_offset_or_limit_is_a_400(api, editor, logged_run, query):
    response = api.as_user(editor).get(f"/api/runs/{logged_run.pk}/steps/a/log/", query)

    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_viewer_reads_logs(api, viewer, logged_run):
    assert api.as_user(viewer).get(f"/api/runs/{logged_run.pk}/steps/a/log/").status_code == 200


# -- the schema ----------------------------------------------------------------------------------


def test_the_openapi_schema_lists_the_run_submit_path(api):
    response = api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "post" in schema["paths"]["/api/runs/"]
    assert schema["paths"]["/api/runs/"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunSubmit"}


def test_the_api_docs_page_loads(api):
    assert api.get("/api/docs/").status_code == 200
