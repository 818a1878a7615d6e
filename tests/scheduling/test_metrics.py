"""Scheduling metrics: scheduling.metrics.collect from known step-run timestamps, GET /api/metrics/
(JSON) and GET /metrics (Prometheus text): who may read them, bad windows, the exposition parses."""
from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from pipelines import services, states
from pipelines.models import Run, StepRun
from scheduling import metrics
from scheduling.core.types import Capacity, Node
from scheduling.dispatch import dispatch_once
from tests.builders import spec, step
from tests.scheduling.test_dispatch import MemoryExecutor

pytestmark = pytest.mark.django_db

HOUR = 3600.0
CPUS = Capacity(cpu=16, memory_mb=65536, gpu=0)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def submit(make_pipeline, team, name, at, **resources):
    """A one-step run of ``team`` submitted (created and queued) at ``at``."""
    pipeline = make_pipeline(spec(step("work", resources={"cpu": 1, "memory_mb": 1024, **resources})), team=team,
                             name=name)
    return StepRun.objects.get(run=services.submit_run(pipeline, user=None, now=at))


def created(sr, at) -> None:
    """Date the step run's run as created at ``at`` (``created_at`` is the wall clock's). Done
    last: the parsed-spec caches key runs by id and creation time."""
    Run.objects.filter(pk=sr.run_id).update(created_at=at)


def admit(at, executor=None):
    dispatch_once(executor=executor or MemoryExecutor(), policy="fifo", now=at)


def start(sr, at, node=""):
    assert services.transition(sr.pk, to=states.RUNNING, expected=states.ADMITTED, attempt=sr.attempt, now=at,
                               node=node)


def end(sr, at, *, attempt=1, to=states.SUCCEEDED, exit_code=0):
    assert services.transition(sr.pk, to=to, expected=states.RUNNING, attempt=attempt, now=at, exit_code=exit_code)


def by_team(found):
    return {t.team: t for t in found.teams}


# -- queueing delay and completion time --------------------------------------------------------


def test_queueing_delay_and_completion_time_come_from_the_step_runs_timestamps(make_pipeline, make_team, now):
    vision = make_team("vision")
    t0 = now - timedelta(minutes=30)
    steps = [submit(make_pipeline, vision, name, t0 - timedelta(seconds=wait))
             for name, wait in (("a", 60), ("b", 20), ("c", 10))]
    admit(t0)  # the three waited 60, 20 and 10 s
    for sr, ran in zip(steps, (100, 200, 400)):
        start(sr, t0)
        end(sr, t0 + timedelta(seconds=ran))  # runs of 160, 220 and 410 s from submission to end
    for sr, wait in zip(steps, (60, 20, 10)):
        created(sr, t0 - timedelta(seconds=wait))

    found = metrics.collect(capacity=CPUS, now=now, window_s=HOUR)

    delay, completion = by_team(found)["vision"].queueing_delay, by_team(found)["vision"].completion_time
    assert (delay.count, delay.sum_s, delay.mean_s, delay.p50_s) == (3, 90.0, 30.0, 20.0)
    assert delay.p95_s == pytest.approx(56.0)  # linear between the closest ranks: 20 + 0.9 * (60 - 20)
    assert (completion.count, completion.mean_s, completion.p50_s) == (3, 790 / 3, 220.0)
    assert completion.p95_s == pytest.approx(391.0)
    assert found.queueing_delay == delay and found.completion_time == completion


def test_only_admissions_and_ends_inside_the_window_count(make_pipeline, make_team, now):
    vision = make_team("vision")
    old = submit(make_pipeline, vision, "old", now - timedelta(hours=3))
    admit(now - timedelta(hours=3) + timedelta(seconds=5))
    start(old, now - timedelta(hours=2))
    end(old, now - timedelta(hours=2))
    submit(make_pipeline, vision, "recent", now - timedelta(minutes=2))
    admit(now - timedelta(minutes=1))

    found = metrics.collect(capacity=CPUS, now=now, window_s=HOUR)

    assert by_team(found)["vision"].queueing_delay.sum_s == 60.0
    assert by_team(found)["vision"].completion_time.count == 0


def test_a_preempted_step_runs_time_running_is_not_counted_as_queueing(make_pipeline, make_team, now):
    vision = make_team("vision")
    t0 = now - timedelta(minutes=50)
    sr = submit(make_pipeline, vision, "long", t0)
    admit(t0 + timedelta(seconds=10))  # waited 10 s
    start(sr, t0 + timedelta(seconds=10))
    services.transition(sr.pk, to=states.PREEMPTED, expected=states.RUNNING, attempt=1,
                        now=t0 + timedelta(minutes=30), reason="preempted: reclaimed")
    services.requeue_preempted(sr.pk, attempt=1, now=t0 + timedelta(minutes=30, seconds=5))
    admit(t0 + timedelta(minutes=30, seconds=25))  # back in the queue for 20 s

    delay = metrics.collect(capacity=CPUS, now=now, window_s=HOUR).queueing_delay

    assert sorted(_delays(now)) == [10.0, 20.0]
    assert delay.sum_s == 30.0


def test_a_retry_waits_in_the_queue_from_the_end_of_its_backoff(make_pipeline, make_team, settings, now):
    settings.TRELLIS_RETRY_BACKOFF_S = 30
    vision = make_team("vision")
    pipeline = make_pipeline(spec(step("flaky", retries=1)), team=vision, name="flaky")
    t0 = now - timedelta(minutes=40)
    sr = StepRun.objects.get(run=services.submit_run(pipeline, user=None, now=t0))
    admit(t0)
    start(sr, t0)
    end(sr, t0 + timedelta(minutes=10), to=states.FAILED, exit_code=1)  # attempt 2 ready 30 s later
    admit(t0 + timedelta(minutes=10, seconds=37))

    assert sorted(_delays(now)) == [0.0, 7.0]


def _delays(now):
    return [d for ds in metrics.queueing_delays(now - timedelta(seconds=HOUR), now).values() for d in ds]


# -- utilisation -------------------------------------------------------------------------------


def test_utilisation_per_resource_and_per_gpu_class(make_pipeline, make_team, now):
    capacity = Capacity(cpu=32, memory_mb=131072, gpu=12, nodes=(
        Node("a100-1", cpu=16, memory_mb=65536, gpu=8, gpu_class="a100"),
        Node("v100-1", cpu=16, memory_mb=65536, gpu=4, gpu_class="v100"),
    ))
    vision, audio = make_team("vision", cpu=16, gpu=8), make_team("audio", cpu=16, gpu=8)
    on_a100 = submit(make_pipeline, vision, "train", now, cpu=4, memory_mb=8192, gpu=2)
    submit(make_pipeline, audio, "tune", now, cpu=2, memory_mb=4096, gpu=1, gpu_class="v100")
    submit(make_pipeline, audio, "waits", now, cpu=1, gpu=0)
    admit(now, MemoryExecutor(cpu=6, memory_mb=131072, gpu=12))  # room for the first two only
    start(on_a100, now, node="a100-1")  # the other stays admitted, on no node yet

    found = metrics.collect(capacity=capacity, now=now, window_s=HOUR)

    use = {r.resource: (r.held, r.capacity, r.utilisation) for r in found.utilisation}
    assert use == {
        "cpu": (6.0, 32.0, 6 / 32), "memory_mb": (12288.0, 131072.0, 12288 / 131072), "gpu": (3.0, 12.0, 0.25),
        "gpu/a100": (2.0, 8.0, 0.25), "gpu/v100": (1.0, 4.0, 0.25),
    }
    assert by_team(found)["vision"].held == {"cpu": 4.0, "memory_mb": 8192.0, "gpu": 2.0, "gpu/a100": 2.0}
    assert by_team(found)["audio"].step_runs == {"admitted": 1, "queued": 1}


def test_a_cluster_known_by_totals_has_no_capacity_per_gpu_class(make_pipeline, make_team, now):
    vision = make_team("vision", gpu=4)
    submit(make_pipeline, vision, "train", now, gpu=2, gpu_class="a100")
    admit(now, MemoryExecutor(gpu=4))

    found = metrics.collect(capacity=Capacity(cpu=8, memory_mb=32768, gpu=4), now=now, window_s=HOUR)

    [a100] = [r for r in found.utilisation if r.resource == "gpu/a100"]
    assert (a100.held, a100.capacity, a100.utilisation) == (2.0, None, None)


# -- fairness ----------------------------------------------------------------------------------


def running_since(make_pipeline, team, name, since):
    sr = submit(make_pipeline, team, name, since)
    admit(since)
    start(sr, since)
    return sr


def test_teams_served_alike_are_perfectly_fair(make_pipeline, make_team, now):
    teams = [make_team(name) for name in ("vision", "audio", "nlp")]
    for team in teams:
        running_since(make_pipeline, team, f"{team.name}-work", now - timedelta(hours=2))

    found = metrics.collect(capacity=CPUS, now=now, window_s=HOUR)

    assert found.jain == 1.0
    assert found.fairness_teams == 3
    assert {t.team: t.service_ratio for t in found.teams} == {"audio": 1.0, "nlp": 1.0, "vision": 1.0}


@pytest.mark.parametrize("starved", [1, 3], ids=["one of two starved", "three of four starved"])
def test_one_team_served_and_the_others_starved_gives_one_over_n(make_pipeline, make_team, now, starved):
    """The starved teams' step runs have waited all along: they count, though nothing of theirs
    ended in the window."""
    running_since(make_pipeline, make_team("vision"), "served", now - timedelta(hours=2))
    for i in range(starved):
        submit(make_pipeline, make_team(f"starved-{i}"), f"waits-{i}", now - timedelta(hours=2))
    admit(now - timedelta(hours=1), MemoryExecutor(cpu=1))  # admits nothing: vision holds the only cpu

    found = metrics.collect(capacity=CPUS, now=now, window_s=HOUR)

    assert found.jain == pytest.approx(1 / (starved + 1))
    assert {t.team: t.service_ratio for t in found.teams}["vision"] == 1.0
    assert all(t.service_ratio == 0.0 for t in found.teams if t.team.startswith("starved"))


def test_a_service_ratio_is_the_share_of_ready_time_spent_running(make_pipeline, make_team, now):
    """audio waited the first half of the window, then ran: 0.5; vision ran all along: 1."""
    running_since(make_pipeline, make_team("vision"), "served", now - timedelta(hours=1))
    audio = make_team("audio")
    late = submit(make_pipeline, audio, "late", now - timedelta(hours=1))
    admit(now - timedelta(minutes=30), MemoryExecutor())
    start(late, now - timedelta(minutes=30))

    found = metrics.collect(capacity=CPUS, now=now, window_s=HOUR)

    assert by_team(found)["audio"].service_ratio == pytest.approx(0.5)
    assert found.jain == pytest.approx(1.5 ** 2 / (2 * (1 + 0.25)))


def test_no_work_in_the_window_means_no_index(make_team, now):
    make_team("vision")

    found = metrics.collect(capacity=CPUS, now=now, window_s=HOUR)

    assert (found.jain, found.fairness_teams) == (None, 0)
    assert by_team(found)["vision"].service_ratio is None


# -- GET /api/metrics/ -------------------------------------------------------------------------


@pytest.fixture
def people(make_team, make_user, make_pipeline, now):
    """Teams vision and audio, a step run of each queued; their members, a platform admin."""
    vision, audio = make_team("vision"), make_team("audio")
    submit(make_pipeline, vision, "v", now)
    submit(make_pipeline, audio, "a", now)
    staff = make_user("root")
    staff.is_staff = True
    staff.save()
    return {"vision": vision, "audio": audio, "staff": staff, "ada": make_user("ada", team=vision, role="viewer")}


def test_platform_admins_see_every_team(api, people):
    response = api.as_user(people["staff"]).get("/api/metrics/")

    assert response.status_code == 200
    body = response.json()
    assert [t["team"] for t in body["teams"]] == ["audio", "vision"]
    assert body["window_s"] == 3600.0
    assert [r["resource"] for r in body["utilisation"]][:3] == ["cpu", "memory_mb", "gpu"]
    assert set(body["teams"][0]) == {"team", "queueing_delay", "completion_time", "held", "service_ratio",
                                     "step_runs"}
    assert body["teams"][0]["step_runs"] == {"queued": 1}


def test_members_see_only_their_teams_and_the_whole_clusters_index(api, people):
    body = api.as_user(people["ada"]).get("/api/metrics/?window_s=600").json()

    assert [t["team"] for t in body["teams"]] == ["vision"]
    assert body["window_s"] == 600.0
    assert body["fairness_teams"] == 2  # the index is the cluster's


def test_metrics_need_a_signed_in_caller(db):
    assert APIClient().get("/api/metrics/").status_code == 403


@pytest.mark.parametrize("window, message", [
    ("0", "Ensure this value is greater than or equal to 1.0."),
    ("-5", "Ensure this value is greater than or equal to 1.0."),
    ("1e12", "Ensure this value is less than or equal to 7776000.0."),
    ("an hour", "A valid number is required."),
    ("nan", "A valid number is required."),
], ids=["zero", "negative", "beyond 90 days", "words", "nan"])
def test_a_bad_window_is_a_400_naming_the_field(api, people, window, message):
    response = api.as_user(people["staff"]).get(f"/api/metrics/?window_s={window}")

    assert response.status_code == 400
    assert response.json() == {"window_s": [message]}


def test_the_metrics_endpoint_is_documented(db):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    assert "400" in paths["/api/metrics/"]["get"]["responses"]
    assert {p["name"] for p in paths["/api/metrics/"]["get"]["parameters"]} == {"window_s"}


# -- GET /metrics (Prometheus) -----------------------------------------------------------------


def scrape(client, path="/metrics"):
    response = client.get(path, HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    return response, {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_prometheus_scrapes_with_a_platform_admins_token(people, make_pipeline, now):
    response, families = scrape(token_client(people["staff"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert {"trellis_queueing_delay_seconds", "trellis_run_completion_seconds", "trellis_resource_held",
            "trellis_resource_capacity", "trellis_resource_utilisation_ratio", "trellis_team_resource_held",
            "trellis_step_runs"} <= set(families)
    queued = {s.labels["team"]: s.value for s in families["trellis_step_runs"].samples}
    assert queued == {"audio": 1.0, "vision": 1.0}
    assert families["trellis_queueing_delay_seconds"].type == "summary"


def test_a_platform_admins_session_may_read_prometheus_metrics_too(api, people):
    response, families = scrape(api.as_user(people["staff"]))

    assert response.status_code == 200 and "trellis_resource_held" in families


@pytest.mark.parametrize("who", ["member", "anonymous"])
def test_prometheus_metrics_are_for_platform_admins_only(people, who):
    client = token_client(people["ada"]) if who == "member" else APIClient()

    response = client.get("/metrics")

    assert response.status_code == 403
    assert response.content.decode().startswith("# ")
    assert "trellis_" not in response.content.decode()


def test_a_bad_prometheus_window_is_a_400_said_as_a_comment(people):
    response = token_client(people["staff"]).get("/metrics?window_s=0")

    assert response.status_code == 400
    assert response.content.decode() == "# window_s: Ensure this value is greater than or equal to 1.0.\n"


def test_the_exposition_carries_delays_utilisation_per_gpu_class_and_fairness(make_pipeline, make_team, now):
    from scheduling.api.metrics import exposition

    capacity = Capacity(cpu=32, memory_mb=131072, gpu=8, nodes=(
        Node("a100-1", cpu=32, memory_mb=131072, gpu=8, gpu_class="a100"),))
    vision = make_team("vision", gpu=8)
    sr = submit(make_pipeline, vision, "train", now - timedelta(seconds=40), gpu=2)
    admit(now - timedelta(seconds=30), MemoryExecutor(gpu=8))  # waited 10 s
    start(sr, now - timedelta(seconds=30), node="a100-1")

    families = {f.name: f for f in text_string_to_metric_families(
        exposition(window_s=HOUR, capacity=capacity, now=now).decode())}

    delay = {(s.name, s.labels.get("quantile")): s.value for s in families["trellis_queueing_delay_seconds"].samples
             if s.labels["team"] == "vision"}
    assert delay == {("trellis_queueing_delay_seconds", "0.5"): 10.0, ("trellis_queueing_delay_seconds", "0.95"): 10.0,
                     ("trellis_queueing_delay_seconds_count", None): 1.0,
                     ("trellis_queueing_delay_seconds_sum", None): 10.0}
    ratio = {s.labels["resource"]: s.value for s in families["trellis_resource_utilisation_ratio"].samples}
    assert (ratio["gpu"], ratio["gpu/a100"]) == (0.25, 0.25)
    team_held = {(s.labels["team"], s.labels["resource"]): s.value for s in families["trellis_team_resource_held"].samples}
    assert team_held[("vision", "gpu/a100")] == 2.0
    assert [s.value for s in families["trellis_fairness_jain_index"].samples] == [1.0]
    assert [s.value for s in families["trellis_team_service_ratio"].samples] == [pytest.approx(30 / 40)]
