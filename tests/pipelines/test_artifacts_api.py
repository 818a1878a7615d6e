"""``GET /api/runs/<id>/artifacts/<step>/<output>/``: a small JSON artifact, or a 404."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines import services
from pipelines.api import artifacts
from pipelines.spec import spec_to_dict
from tests.builders import spec, step

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.TRELLIS_RUNS_DIR = tmp_path / "runs"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(make_team):
    return make_team("vision")


@pytest.fixture
def run(team, now):
    pipeline_spec = spec(step("evaluate", outputs=["metrics", "model"]), step("other", outputs=["metrics"]))
    pipeline = services.create_pipeline(team=team, name="p", spec=spec_to_dict(pipeline_spec), user=None)
    return services.submit_run(pipeline, user=None, now=now)


@pytest.fixture
def client(api, team, make_user):
    return api.as_user(make_user("vic", team=team, role="viewer"))


def write(run, step_name: str, output: str, content: bytes) -> Path:
    path = Path(run.workdir) / "artifacts" / step_name / output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def url(run, step_name="evaluate", output="metrics") -> str:
    return f"/api/runs/{run.pk}/artifacts/{step_name}/{output}/"


def test_a_member_reads_a_json_artifact_as_written(client, run):
    write(run, "evaluate", "metrics", json.dumps({"accuracy": 0.97, "arch": "cnn", "per_class": [1, 2]}).encode())
    response = client.get(url(run))
    assert response.status_code == 200
    assert response.json() == {"accuracy": 0.97, "arch": "cnn", "per_class": [1, 2]}


@pytest.mark.parametrize("content", [b"not json", b"\xff\xfe", b'{"loss": NaN}'], ids=["text", "binary", "nan"])
def test_an_artifact_that_is_not_json_is_a_404(client, run, content):
    write(run, "evaluate", "metrics", content)
    assert client.get(url(run)).status_code == 404


def test_an_artifact_over_1_mb_is_a_404(client, run):
    write(run, "evaluate", "metrics", b'"' + b"x" * artifacts.MAX_BYTES + b'"')
    assert client.get(url(run)).status_code == 404


def test_an_artifact_not_written_yet_is_a_404(client, run):
    assert client.get(url(run)).status_code == 404


def test_a_directory_artifact_is_a_404(client, run):
    (Path(run.workdir) / "artifacts" / "evaluate" / "model").mkdir(parents=True)
    assert client.get(url(run, output="model")).status_code == 404


def test_an_output_the_step_does_not_declare_is_a_404(client, run):
    write(run, "evaluate", "secret", b"{}")
    assert client.get(url(run, output="secret")).status_code == 404


def test_an_unknown_step_is_a_404(client, run):
    assert client.get(url(run, step_name="nope")).status_code == 404


def test_a_symlink_out_of_the_run_is_a_404(client, run, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"secret": 1}')
    target = Path(run.workdir) / "artifacts" / "evaluate"
    target.mkdir(parents=True)
    os.symlink(outside, target / "metrics")
    assert client.get(url(run)).status_code == 404


def test_path_segments_cannot_climb_out_of_the_artifacts(client, run):
    write(run, "evaluate", "metrics", b"{}")
    for bad in ("..%2F..%2Fevaluate", "%2E%2E"):
        assert client.get(f"/api/runs/{run.pk}/artifacts/{bad}/metrics/").status_code == 404


def test_another_teams_run_artifact_is_a_404(api, make_team, make_user, run):
    write(run, "evaluate", "metrics", b"{}")
    stranger = make_user("sam", team=make_team("audio"), role="admin")
    assert api.as_user(stranger).get(url(run)).status_code == 404


def test_read_json_refuses_a_path_outside_the_artifacts_even_when_named_directly(tmp_path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "secret").write_text("{}")
    with pytest.raises(artifacts.NotReadable):
        artifacts.read_json(str(tmp_path), "..", "secret")
