"""scheduling.estimates: the median of the same step's recent successes, else its declared
estimate, else its type's default; worked out in bulk over real rows."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines import states
from pipelines.models import StepRun
from pipelines.spec import DEFAULT_ESTIMATE_S
from scheduling.estimates import StepKey, estimates
from tests.builders import spec, step

from .history import finished_run

pytestmark = pytest.mark.django_db


def key_of(pipeline, name: str) -> StepKey:
    version = pipeline.latest_version
    return StepKey(pipeline.pk, version.pk, name, version.steps.get(name=name).type)


def test_the_estimate_is_the_median_of_the_steps_recent_successes(make_pipeline, now):
    pipe = make_pipeline(spec(step("train", type="train", estimate_s=999)))
    for i, ran_s in enumerate([100, 300, 200, 10_000]):
        finished_run(pipe, step="train", ran_s=ran_s, ended_at=now - timedelta(hours=i + 1))

    assert estimates([key_of(pipe, "train")]) == {key_of(pipe, "train"): 250.0}


def test_only_the_last_successes_count_and_failures_never(make_pipeline, now):
    pipe = make_pipeline(spec(step("train")))
    finished_run(pipe, step="train", ran_s=5000, ended_at=now - timedelta(days=3))  # older than the last two
    finished_run(pipe, step="train", ran_s=10, ended_at=now - timedelta(days=1))
    finished_run(pipe, step="train", ran_s=30, ended_at=now - timedelta(hours=1))
    finished_run(pipe, step="train", ran_s=9000, ended_at=now, status=states.FAILED)

    assert estimates([key_of(pipe, "train")], history=2) == {key_of(pipe, "train"): 20.0}


def test_another_pipelines_step_of_the_same_name_does_not_count(make_pipeline, make_team, now):
    team = make_team("vision")
    mine = make_pipeline(spec(step("train", estimate_s=42)), team=team, name="mine")
    other = make_pipeline(spec(step("train")), team=team, name="other")
    finished_run(other, step="train", ran_s=7, ended_at=now)

    assert estimates([key_of(mine, "train")]) == {key_of(mine, "train"): 42.0}


def test_without_history_the_declared_estimate_then_the_types_default_is_used(make_pipeline):
    pipe = make_pipeline(spec(step("prepare", type="data_prep", estimate_s=90), step("train", type="train")))

    found = estimates([key_of(pipe, "prepare"), key_of(pipe, "train")])

    assert found == {key_of(pipe, "prepare"): 90.0, key_of(pipe, "train"): DEFAULT_ESTIMATE_S["train"]}


def test_estimates_for_many_pipelines_take_two_queries(make_pipeline, make_team, now):
    team = make_team("vision")
    pipes = [make_pipeline(spec(step("a"), step("b", estimate_s=5)), team=team, name=f"p{i}") for i in range(5)]
    for p in pipes:
        finished_run(p, step="a", ran_s=60, ended_at=now)
    keys = [key_of(p, n) for p in pipes for n in ("a", "b")]

    with CaptureQueriesContext(connection) as queries:
        found = estimates(keys)

    assert len(queries) == 2
    assert {k.step_name: v for k, v in found.items()} == {"a": 60.0, "b": 5.0}
    assert StepRun.objects.filter(status=states.SUCCEEDED).count() == 5
