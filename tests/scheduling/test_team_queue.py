"""scheduling.queue and GET /api/teams/<id>/queue/: a team's waiting step runs in the cluster's
admission order with why each waits, what it runs, and its usage against quota."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines import services, states
from pipelines.models import StepRun
from scheduling import queue
from scheduling.core.types import Capacity
from scheduling.dispatch import dispatch_once
from tests.builders import spec, step
from tests.scheduling.test_dispatch import MemoryExecutor

pytestmark = pytest.mark.django_db

CAPACITY = Capacity(cpu=64, memory_mb=262144, gpu=0)


def one_step(make_pipeline, team, name, *, cpu=1.0, memory_mb=1024):
    return make_pipeline(spec(step("work", resources={"cpu": cpu, "memory_mb": memory_mb})), team=team, name=name)


def submit(pipeline, now, **kwargs):
    return services.submit_run(pipeline, user=None, now=now, **kwargs)


@pytest.fixture
def vision_and_audio(make_team):
    return make_team("vision", cpu=2, memory_mb=65536), make_team("audio", cpu=8, memory_mb=65536)


def test_waiting_step_runs_come_in_the_clusters_order_with_their_overall_position_and_why_they_wait(
        make_pipeline, vision_and_audio, now):
    vision, audio = vision_and_audio
    a = submit(one_step(make_pipeline, vision, "a"), now)
    submit(one_step(make_pipeline, audio, "other"), now + timedelta(seconds=1))
    b = submit(one_step(make_pipeline, vision, "b"), now + timedelta(seconds=2))
    c = submit(one_step(make_pipeline, vision, "c"), now + timedelta(seconds=3))

    view = queue.team_queue(vision, capacity=CAPACITY, now=now + timedelta(minutes=1))

    assert view.policy == "fifo"
    assert view.waiting_in_cluster == 4
    assert [(w.run_id, w.position, w.verdict, w.reason) for w in view.waiting] == [
        (a.pk, 1, "admit", "admitted at the next dispatch"),
        (b.pk, 3, "admit", "admitted at the next dispatch"),
        (c.pk, 4, "wait", "team vision: cpu 2 of 2 in use, asks 1"),
    ]
    first = view.waiting[0]
    assert (first.pipeline, first.step, first.attempt, first.priority) == ("a", "work", 1, 0)
    assert (first.request.cpu, first.request.memory_mb, first.request.gpu) == (1.0, 1024, 0)
    assert first.queued_at == now


def test_a_step_run_too_big_for_its_teams_quota_can_never_fit(make_pipeline, vision_and_audio, now):
    vision, _ = vision_and_audio
    submit(one_step(make_pipeline, vision, "huge", cpu=4), now)

    [huge] = queue.team_queue(vision, capacity=CAPACITY, now=now).waiting

    assert huge.verdict == "never"
    assert huge.reason == "can never fit: asks for 4 cpu but team vision's quota has 2"


def test_running_work_is_listed_with_its_node_and_counts_against_the_quota(make_pipeline, vision_and_audio, now):
    vision, _ = vision_and_audio
    run = submit(one_step(make_pipeline, vision, "a", cpu=1.5, memory_mb=2048), now)
    dispatch_once(executor=MemoryExecutor(), policy="fifo", now=now)
    sr = StepRun.objects.get(run=run)
    services.transition(sr.pk, to=states.RUNNING, expected=states.ADMITTED, attempt=1, now=now + timedelta(seconds=5),
                        node="node-1")

    view = queue.team_queue(vision, capacity=CAPACITY, now=now + timedelta(minutes=1))

    assert view.waiting == ()
    [active] = view.active
    assert (active.run_id, active.status, active.node, active.since, active.preempting) == (
        run.pk, "running", "node-1", now + timedelta(seconds=5), "")
    usage = {u.resource: u for u in view.usage}
    assert (usage["cpu"].used, usage["cpu"].nominal, usage["cpu"].borrowed) == (1.5, 2.0, 0.0)
    assert (usage["memory_mb"].used, usage["memory_mb"].nominal) == (2048.0, 65536.0)
    assert usage["gpu"].used == 0.0
    assert usage["cpu"].borrowing_limit is None


def test_other_teams_work_is_neither_listed_nor_counted(make_pipeline, vision_and_audio, now):
    vision, audio = vision_and_audio
    submit(one_step(make_pipeline, audio, "theirs"), now)
    dispatch_once(executor=MemoryExecutor(), policy="fifo", now=now)

    view = queue.team_queue(vision, capacity=CAPACITY, now=now)

    assert (view.waiting, view.active) == ((), ())
    assert {u.resource: u.used for u in view.usage} == {"cpu": 0.0, "memory_mb": 0.0, "gpu": 0.0}


def test_a_team_without_a_quota_is_told_an_admin_must_set_one(make_pipeline, now):
    from scheduling.models import Team

    bare = Team.objects.create(name="bare")
    submit(one_step(make_pipeline, bare, "a"), now)

    view = queue.team_queue(bare, capacity=CAPACITY, now=now)

    assert view.has_quota is False
    assert [w.reason for w in view.waiting] == ["team bare has no quota yet: an admin must set one"]
    assert [u.nominal for u in view.usage] == [None, None, None]


# -- the endpoint ------------------------------------------------------------------------------


def test_the_queue_endpoint_answers_members_with_the_queue(api, make_pipeline, vision_and_audio, make_user, now):
    vision, _ = vision_and_audio
    run = submit(one_step(make_pipeline, vision, "a"), now)
    viewer = make_user("vic", team=vision, role="viewer")

    response = api.as_user(viewer).get(f"/api/teams/{vision.pk}/queue/")

    assert response.status_code == 200
    body = response.json()
    assert body["team"] == "vision"
    assert [(w["run_id"], w["pipeline"], w["step"], w["position"], w["reason"]) for w in body["waiting"]] == [
        (run.pk, "a", "work", 1, "admitted at the next dispatch")]
    assert body["waiting"][0]["request"] == {"cpu": 1.0, "memory_mb": 1024, "gpu": 0, "gpu_class": "", "gang": 1}
    assert [u["resource"] for u in body["usage"]] == ["cpu", "memory_mb", "gpu"]


def test_another_teams_queue_is_a_404(api, vision_and_audio, make_user):
    vision, audio = vision_and_audio
    ada = make_user("ada", team=vision)

    assert api.as_user(ada).get(f"/api/teams/{audio.pk}/queue/").status_code == 404
    assert api.as_user(ada).get("/api/teams/999999/queue/").status_code == 404


def test_the_queue_is_documented_in_the_openapi_schema(api, make_user):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    get = schema["paths"]["/api/teams/{id}/queue/"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TeamQueue")
    assert "reason" in schema["components"]["schemas"]["QueuedStep"]["properties"]


# -- one policy for the page and the dispatcher ------------------------------------------------


def test_the_clusters_policy_carries_its_fair_share_half_life(db):
    from scheduling import clusters

    cluster = clusters.current()
    cluster.policy, cluster.fair_share_half_life_s = "fair_share", 600.0
    cluster.save()

    assert (clusters.policy_of(cluster).name, clusters.policy_of(cluster).half_life_s) == ("fair_share", 600.0)
    assert (clusters.policy_of(cluster, "sjf").name, clusters.policy_of(cluster, "sjf").half_life_s) == ("sjf", 600.0)


def test_under_fair_share_the_page_shows_the_order_the_dispatcher_takes(make_pipeline, make_team, now):
    """Team audio used 8 cpu for the past hour; vision holds 4 cpu now. With the cluster's
    one-hour half-life audio's past weighs more than vision's present, so vision goes first
    (under fair share's default day-long half-life it would be the other way round)."""
    from scheduling import clusters

    cluster = clusters.current()
    cluster.policy, cluster.fair_share_half_life_s = "fair_share", 3600.0
    cluster.save()
    vision, audio = make_team("vision", cpu=16), make_team("audio", cpu=16)
    executor = MemoryExecutor()
    hour_ago = now - timedelta(hours=1)
    past = submit(one_step(make_pipeline, audio, "past", cpu=8), hour_ago)
    dispatch_once(executor=executor, now=hour_ago)
    past_step = StepRun.objects.get(run=past)
    services.transition(past_step.pk, to=states.RUNNING, expected=states.ADMITTED, attempt=1, now=hour_ago)
    services.transition(past_step.pk, to=states.SUCCEEDED, expected=states.RUNNING, attempt=1,
                        now=now - timedelta(seconds=1), exit_code=0)
    holding = submit(one_step(make_pipeline, vision, "holding", cpu=4), now - timedelta(minutes=10))
    dispatch_once(executor=executor, now=now - timedelta(minutes=10))
    services.transition(StepRun.objects.get(run=holding).pk, to=states.RUNNING, expected=states.ADMITTED, attempt=1,
                        now=now - timedelta(minutes=10))
    audio_next = submit(one_step(make_pipeline, audio, "audio-next"), now - timedelta(seconds=2))
    vision_next = submit(one_step(make_pipeline, vision, "vision-next"), now - timedelta(seconds=1))
    ids = {StepRun.objects.get(run=r).pk: r for r in (audio_next, vision_next)}

    on_page = [w for team in (vision, audio) for w in queue.team_queue(team, capacity=CAPACITY, now=now).waiting]
    decision = dispatch_once(executor=executor, now=now)

    assert decision.policy == "fair_share"
    assert [ids[sid] for sid in decision.order] == [vision_next, audio_next]
    assert sorted((w.position, w.run_id) for w in on_page) == [(1, vision_next.pk), (2, audio_next.pk)]
