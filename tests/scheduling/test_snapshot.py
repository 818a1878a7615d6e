"""scheduling.snapshot.load: database rows -> the core's plain data, everything a decision reads."""
from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines import services, states
from pipelines.models import StepRun
from pipelines.spec import PipelineSpec
from scheduling import snapshot
from scheduling.core.types import Capacity, GpuClass, Node, Request, TeamQuota
from scheduling.models import Cohort, GpuClass as GpuClassRow, GpuClassQuota, Quota
from tests.builders import spec, step

from .history import finished_run, hold

pytestmark = pytest.mark.django_db

CAPACITY = Capacity(cpu=64, memory_mb=262144, gpu=8)
HOUR = 3600.0


def queued(pipeline, now, name: str) -> StepRun:
    run = services.submit_run(pipeline, user=None, now=now)
    return StepRun.objects.get(run=run, step_name=name)


def test_quotas_carry_cohort_borrowing_limits_gpu_classes_and_weight(make_team):
    vision, nlp = make_team("vision", cpu=8, gpu=4), make_team("nlp", cpu=4)
    a100 = GpuClassRow.objects.create(name="a100", speed=2.0)
    Quota.objects.filter(team=vision).update(cohort=Cohort.objects.create(name="research"), borrow_cpu=Decimal("2.5"),
                                             borrow_gpu=0, weight=3.0)
    GpuClassQuota.objects.create(quota=vision.quota, gpu_class=a100, gpu=2, borrow_gpu=1)

    snap = snapshot.load(capacity=CAPACITY)

    assert snap.quotas["vision"] == TeamQuota(cpu=8.0, memory_mb=65536, gpu=4, gpu_classes={"a100": 2},
                                              cohort="research", weight=3.0,
                                              borrowing_limit={"cpu": 2.5, "gpu": 0.0, "gpu/a100": 1.0})
    assert snap.quotas["nlp"] == TeamQuota(cpu=4.0, memory_mb=65536, gpu=0)  # blank limits: None, no cohort
    assert snap.gpu_classes == (GpuClass("a100", 2.0),)


def test_a_waiting_step_run_carries_what_admission_reads(make_pipeline, make_team, now):
    team = make_team("vision", gpu=8)
    train = step("train", type="train", estimate_s=600, gang=4, preemptible=True, node_selector={"zone": "b"},
                 resources={"cpu": 2, "gpu": 1, "gpu_class": "a100"})
    pipe = make_pipeline(PipelineSpec(steps=(train,), excludes=("exporter",)), team=team, name="trainer")
    sr = queued(pipe, now, "train")

    (w,) = snapshot.load(capacity=CAPACITY, now=now).waiting

    assert (w.step_run_id, w.team, w.request, w.gang, w.is_preemptible, dict(w.node_selector)) == (
        sr.pk, "vision", Request(2.0, 1024, 1, "a100"), 4, True, {"zone": "b"})
    assert (w.pipeline, w.run_id, w.excludes, w.estimate_s, w.submitted_at) == (
        "trainer", sr.run_id, frozenset({"exporter"}), 600.0, now)


def test_admitted_running_and_preempted_step_runs_hold_resources_and_a_preempted_one_is_stopping(
        make_pipeline, make_team, now):
    pipe = make_pipeline(spec(step("a"), step("b"), step("c"), step("d")), team=make_team("vision"))
    run = services.submit_run(pipe, user=None, now=now)
    rows = {sr.step_name: sr for sr in StepRun.objects.filter(run=run)}
    hold(rows["a"], status=states.ADMITTED)
    hold(rows["b"], status=states.RUNNING, started_at=now, is_borrowed=True)
    hold(rows["c"], status=states.PREEMPTED, started_at=now)

    snap = snapshot.load(capacity=CAPACITY, now=now)

    held = {r.step_run_id: (r.is_stopping, r.is_borrowed, r.started_at) for r in snap.running}
    assert held == {rows["a"].pk: (False, False, None), rows["b"].pk: (False, True, now),
                    rows["c"].pk: (True, False, now)}
    assert [w.step_run_id for w in snap.waiting] == [rows["d"].pk]


def test_a_running_step_run_is_on_its_node_only_when_the_cluster_reports_that_node(make_pipeline, make_team, now):
    pipe = make_pipeline(spec(step("a"), step("b")), team=make_team("vision"))
    run = services.submit_run(pipe, user=None, now=now)
    a, b = StepRun.objects.filter(run=run).order_by("step_name")
    hold(a, status=states.RUNNING, started_at=now, node="gpu-1")
    hold(b, status=states.RUNNING, started_at=now, node="laptop")
    nodes = Capacity(cpu=8, memory_mb=8192, gpu=0, nodes=(Node("gpu-1", 8, 8192),))

    snap = snapshot.load(capacity=nodes, now=now)

    assert {r.step_run_id: r.nodes for r in snap.running} == {a.pk: ("gpu-1",), b.pk: ()}
    assert snap.nodes == nodes.nodes


def test_usage_is_decayed_over_the_half_life(make_pipeline, make_team, now):
    team = make_team("vision")
    pipe = make_pipeline(spec(step("a", resources={"cpu": 2, "memory_mb": 100})), team=team)
    finished_run(pipe, step="a", ran_s=HOUR, ended_at=now - timedelta(seconds=HOUR))  # one half-life ago
    finished_run(pipe, step="a", ran_s=HOUR, ended_at=now - timedelta(days=30))  # forgotten

    usage = snapshot.load(capacity=CAPACITY, now=now, half_life_s=HOUR).usage["vision"]

    # 2 cpu for an hour that ended an hour ago: 2 * (0.5 - 0.25) * HOUR / ln 2 cpu-seconds as of now
    assert usage.cpu_s == pytest.approx(2 * 0.25 * HOUR / math.log(2))
    assert usage.memory_mb_s == pytest.approx(100 * 0.25 * HOUR / math.log(2))
    assert usage.as_of == now


def test_a_running_step_counts_in_usage_up_to_now(make_pipeline, make_team, now):
    pipe = make_pipeline(spec(step("a", resources={"cpu": 1})), team=make_team("vision"))
    hold(queued(pipe, now, "a"), status=states.RUNNING, started_at=now - timedelta(seconds=HOUR))

    usage = snapshot.load(capacity=CAPACITY, now=now, half_life_s=HOUR).usage

    assert usage["vision"].cpu_s == pytest.approx(0.5 * HOUR / math.log(2))


def test_without_usage_no_history_is_read(make_pipeline, make_team, now):
    pipe = make_pipeline(spec(step("a")), team=make_team("vision"))
    finished_run(pipe, step="a", ran_s=60, ended_at=now)

    assert snapshot.load(capacity=CAPACITY, now=now, with_usage=False).usage == {}


def test_the_number_of_queries_does_not_grow_with_the_queue(make_pipeline, make_team, now):
    team = make_team("vision", cpu=1000)
    pipes = [make_pipeline(spec(step("a"), step("b")), team=team, name=f"p{i}") for i in range(6)]
    for p in pipes:
        run = services.submit_run(p, user=None, now=now)
        hold(StepRun.objects.get(run=run, step_name="b"), status=states.RUNNING, started_at=now)

    with CaptureQueriesContext(connection) as small:
        snapshot.load(capacity=CAPACITY, now=now, half_life_s=HOUR)
    for p in pipes:
        services.submit_run(p, user=None, now=now)
    with CaptureQueriesContext(connection) as large:
        snap = snapshot.load(capacity=CAPACITY, now=now, half_life_s=HOUR)

    assert len(snap.waiting) == 18
    assert len(large) == len(small)
