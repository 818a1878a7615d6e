"""The teams endpoints: the caller's teams, their role in each and the team's quota."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_teams_lists_only_my_teams_with_my_role_and_their_quota(api, make_team, make_user):
    vision = make_team("vision", cpu=16, memory_mb=65536, gpu=4)
    audio = make_team("audio", cpu=2.5, memory_mb=4096)
    make_team("nlp")
    ada = make_user("ada", team=vision, role="editor")
    ada.memberships.create(team=audio, role="viewer")
    vision.display_name = "Computer vision"
    vision.save()

    response = api.as_user(ada).get("/api/teams/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["results"] == [
        {"id": audio.pk, "name": "audio", "display_name": "", "role": "viewer",
         "quota": {"cpu": 2.5, "memory_mb": 4096, "gpu": 0}, "can_read_quota": False, "can_edit_quota": False},
        {"id": vision.pk, "name": "vision", "display_name": "Computer vision", "role": "editor",
         "quota": {"cpu": 16.0, "memory_mb": 65536, "gpu": 4}, "can_read_quota": False, "can_edit_quota": False},
    ]


def test_a_team_shows_the_callers_own_role_not_anothers(api, make_team, make_user):
    vision = make_team("vision")
    make_user("boss", team=vision, role="admin")
    vic = make_user("vic", team=vision, role="viewer")

    response = api.as_user(vic).get(f"/api/teams/{vision.pk}/")

    assert response.status_code == 200
    assert response.json()["role"] == "viewer"


def test_a_team_without_a_quota_shows_null(api, make_user):
    from scheduling.models import Team

    bare = Team.objects.create(name="bare")
    ada = make_user("ada", team=bare)

    response = api.as_user(ada).get(f"/api/teams/{bare.pk}/")

    assert response.status_code == 200
    assert response.json()["quota"] is None


def test_another_teams_detail_is_a_404(api, make_team, make_user):
    make_team("vision")
    audio = make_team("audio")
    ada = make_user("ada", team=audio.__class__.objects.get(name="vision"))

    assert api.as_user(ada).get(f"/api/teams/{audio.pk}/").status_code == 404
    assert api.as_user(ada).get("/api/teams/999999/").status_code == 404


def test_a_user_in_no_team_sees_an_empty_list(api, make_team, make_user):
    make_team("vision")
    loner = make_user("loner")

    response = api.as_user(loner).get("/api/teams/")

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("url", ["/api/teams/", "/api/teams/1/"])
def test_teams_need_a_signed_in_caller(url, db):
    assert APIClient().get(url).status_code == 403


def test_teams_accept_token_authentication(make_team, make_user):
    from rest_framework.authtoken.models import Token

    vision = make_team("vision")
    ada = make_user("ada", team=vision)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=ada).key}")

    response = client.get("/api/teams/")

    assert response.status_code == 200
    assert [t["name"] for t in response.json()["results"]] == ["vision"]


def test_a_team_says_what_the_caller_may_do_with_its_quota(api, make_team, make_user):
    vision = make_team("vision")
    boss = make_user("boss", team=vision, role="admin")
    staff = make_user("root", team=vision, role="viewer")
    staff.is_staff = True
    staff.save()

    as_admin = api.as_user(boss).get(f"/api/teams/{vision.pk}/").json()
    as_staff = api.as_user(staff).get(f"/api/teams/{vision.pk}/").json()

    assert (as_admin["can_read_quota"], as_admin["can_edit_quota"]) == (True, False)
    assert (as_staff["can_read_quota"], as_staff["can_edit_quota"]) == (True, True)


# -- the quota ---------------------------------------------------------------------------------


@pytest.fixture
def world(make_team, make_user):
    """Team vision (cpu 8, 64 GB, 0 gpu), cohort lab, GPU classes a100 and v100, and its people."""
    from scheduling.models import Cohort, GpuClass

    vision = make_team("vision")
    Cohort.objects.create(name="lab")
    GpuClass.objects.create(name="a100")
    GpuClass.objects.create(name="v100")
    staff = make_user("root")
    staff.is_staff = True
    staff.save()
    return {
        "team": vision, "staff": staff,
        "admin": make_user("boss", team=vision, role="admin"),
        "editor": make_user("ed", team=vision, role="editor"),
        "viewer": make_user("vic", team=vision, role="viewer"),
        "outsider": make_user("eve", team=make_team("audio"), role="admin"),
    }


def quota_url(team) -> str:
    return f"/api/teams/{team.pk}/quota/"


FULL = {"cpu": 16, "memory_mb": 131072, "gpu": 4, "borrow_cpu": 8, "borrow_memory_mb": None, "borrow_gpu": 2,
        "cohort": "lab", "weight": 2.0, "gpu_classes": [{"gpu_class": "a100", "gpu": 2, "borrow_gpu": 1}]}


def test_team_admins_read_the_quota(api, world):
    response = api.as_user(world["admin"]).get(quota_url(world["team"]))

    assert response.status_code == 200
    body = response.json()
    assert body["team"] == "vision"
    assert body["quota"] == {"cpu": 8.0, "memory_mb": 65536, "gpu": 0, "borrow_cpu": None, "borrow_memory_mb": None,
                             "borrow_gpu": None, "cohort": None, "weight": None, "gpu_classes": []}
    assert body["cohorts"] == ["lab"]
    assert body["gpu_classes"] == ["a100", "v100"]


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_members_below_admin_may_not_read_the_quota(api, world, role):
    response = api.as_user(world[role]).get(quota_url(world["team"]))

    assert response.status_code == 403
    assert response.json()["detail"] == f"Only the team's admins may read its quota; your role is {role}."


def test_the_quota_of_a_team_you_cannot_see_is_a_404(api, world):
    assert api.as_user(world["outsider"]).get(quota_url(world["team"])).status_code == 404
    assert api.as_user(world["outsider"]).put(quota_url(world["team"]), FULL, format="json").status_code == 404
    assert api.as_user(world["staff"]).get("/api/teams/999999/quota/").status_code == 404


def test_a_platform_admin_replaces_the_quota(api, world):
    from scheduling.models import Quota

    response = api.as_user(world["staff"]).put(quota_url(world["team"]), FULL, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["quota"] == {**FULL, "cpu": 16.0, "borrow_cpu": 8.0}
    quota = Quota.objects.get(team=world["team"])
    assert (quota.cpu, quota.cohort.name, quota.borrow_gpu, quota.weight) == (16, "lab", 2, 2.0)
    assert [(c.gpu_class.name, c.gpu, c.borrow_gpu) for c in quota.gpu_classes.all()] == [("a100", 2, 1)]


def test_a_put_resets_what_it_does_not_name_and_a_patch_keeps_it(api, world):
    client = api.as_user(world["staff"])
    client.put(quota_url(world["team"]), FULL, format="json")

    patched = client.patch(quota_url(world["team"]), {"gpu": 6, "gpu_classes": [{"gpu_class": "v100", "gpu": 3}]},
                           format="json").json()["quota"]
    replaced = client.put(quota_url(world["team"]), {"cpu": 1, "memory_mb": 1024, "gpu": 0}, format="json").json()["quota"]

    assert (patched["gpu"], patched["cohort"], patched["borrow_cpu"]) == (6, "lab", 8.0)
    assert patched["gpu_classes"] == [{"gpu_class": "v100", "gpu": 3, "borrow_gpu": None}]
    assert replaced == {"cpu": 1.0, "memory_mb": 1024, "gpu": 0, "borrow_cpu": None, "borrow_memory_mb": None,
                        "borrow_gpu": None, "cohort": None, "weight": None, "gpu_classes": []}


def test_a_platform_admin_sets_the_first_quota_of_a_team_without_one(api, world, make_user):
    from scheduling.models import Quota, Team

    bare = Team.objects.create(name="bare")

    assert api.as_user(world["staff"]).get(quota_url(bare)).json()["quota"] is None
    response = api.as_user(world["staff"]).patch(quota_url(bare), {"cpu": 2, "memory_mb": 2048, "gpu": 0}, format="json")

    assert response.status_code == 200
    assert Quota.objects.get(team=bare).cpu == 2


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
@pytest.mark.parametrize("method", ["put", "patch"])
def test_only_platform_admins_change_quotas(api, world, role, method):
    from scheduling.models import Quota

    response = getattr(api.as_user(world[role]), method)(quota_url(world["team"]), FULL, format="json")

    assert response.status_code == 403
    assert response.json()["detail"] == "Only platform admins may change quotas."
    assert Quota.objects.get(team=world["team"]).cpu == 8


@pytest.mark.parametrize("body, field, message", [
    ({**FULL, "cpu": -1}, "cpu", "Ensure this value is greater than or equal to 0."),
    ({**FULL, "memory_mb": -5}, "memory_mb", "Ensure this value is greater than or equal to 0."),
    ({**FULL, "borrow_gpu": -1}, "borrow_gpu", "Ensure this value is greater than or equal to 0."),
    ({**FULL, "cpu": "lots"}, "cpu", "A valid number is required."),
    ({**FULL, "gpu": 2**40}, "gpu", "Ensure this value is less than or equal to 2147483647."),
    ({**FULL, "weight": 0}, "weight", "Ensure this value is greater than or equal to 0.001."),
    ({**FULL, "cohort": "nowhere"}, "cohort", "There is no cohort named 'nowhere' (known: lab)."),
    ({**FULL, "cohort": 7}, "cohort", "Give the cohort's name as text."),
], ids=["negative cpu", "negative memory", "negative borrowing limit", "cpu not a number", "gpu too large",
        "zero weight", "unknown cohort", "cohort not a name"])
def test_bad_quotas_are_refused_with_field_errors(api, world, body, field, message):
    response = api.as_user(world["staff"]).put(quota_url(world["team"]), body, format="json")

    assert response.status_code == 400
    assert response.json()[field] == [message]


def test_an_unknown_or_repeated_gpu_class_is_refused_by_name(api, world):
    client = api.as_user(world["staff"])

    unknown = client.put(quota_url(world["team"]), {**FULL, "gpu_classes": [{"gpu_class": "h200", "gpu": 1}]},
                         format="json")
    twice = client.put(quota_url(world["team"]), {**FULL, "gpu_classes": [{"gpu_class": "a100", "gpu": 1},
                                                                          {"gpu_class": "a100", "gpu": 2}]},
                       format="json")
    negative = client.put(quota_url(world["team"]), {**FULL, "gpu_classes": [{"gpu_class": "a100", "gpu": -1}]},
                          format="json")

    assert unknown.status_code == twice.status_code == negative.status_code == 400
    assert unknown.json()["gpu_classes"] == {"0": {"gpu_class": ["There is no GPU class named 'h200' (known: a100, v100)."]}}
    assert twice.json()["gpu_classes"] == ["GPU class 'a100' is listed twice."]
    assert negative.json()["gpu_classes"] == {"0": {"gpu": ["Ensure this value is greater than or equal to 0."]}}


@pytest.mark.parametrize("body", [[1, 2], "cpu=4", {"gpu_classes": "a100"}, {"cpu": None, "memory_mb": 1, "gpu": 0}],
                         ids=["a list", "a string", "classes not a list", "null cpu"])
def test_malformed_quotas_are_a_400_never_a_500(api, world, body):
    response = api.as_user(world["staff"]).put(quota_url(world["team"]), body, format="json")

    assert response.status_code == 400


def test_nominal_quotas_beyond_the_clusters_capacity_come_with_warnings(api, world):
    from scheduling.executors import get_executor
    from scheduling.models import Quota

    capacity = get_executor().capacity()
    Quota.objects.exclude(team=world["team"]).update(memory_mb=16)
    body = {**FULL, "cpu": capacity.cpu + 1, "memory_mb": 16, "gpu": capacity.gpu + 1}

    response = api.as_user(world["staff"]).put(quota_url(world["team"]), body, format="json")

    assert response.status_code == 200
    total_cpu = capacity.cpu + 1 + 8  # team audio keeps its 8
    assert response.json()["warnings"] == [
        f"Nominal cpu quotas of all teams add up to {total_cpu:g}, more than the cluster's {capacity.cpu:g}.",
        f"Nominal gpu quotas of all teams add up to {capacity.gpu + 1}, more than the cluster's {capacity.gpu}.",
    ]


def test_quotas_within_the_clusters_capacity_have_no_warnings(api, world):
    body = {**FULL, "cpu": 0.5, "memory_mb": 16, "gpu": 0, "gpu_classes": []}
    from scheduling.models import Quota

    Quota.objects.exclude(team=world["team"]).update(cpu=0.5, memory_mb=16)

    response = api.as_user(world["staff"]).put(quota_url(world["team"]), body, format="json")

    assert response.json()["warnings"] == []


def test_the_quota_endpoints_are_documented(db):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]["/api/teams/{id}/quota/"]

    assert set(paths) >= {"get", "put", "patch"}
    assert "400" in paths["put"]["responses"]


# -- platform admins who are not members -------------------------------------------------------


@pytest.fixture
def outsider_admin(make_team, make_user):
    """A platform admin who is a viewer of audio and no member of vision or nlp."""
    vision, audio, nlp = make_team("vision"), make_team("audio"), make_team("nlp")
    root = make_user("root", team=audio, role="viewer")
    root.is_staff = True
    root.save()
    return {"root": root, "vision": vision, "audio": audio, "nlp": nlp}


def test_a_platform_admin_lists_every_team_their_own_first(api, outsider_admin):
    body = api.as_user(outsider_admin["root"]).get("/api/teams/").json()

    assert [(t["name"], t["role"]) for t in body["results"]] == [("audio", "viewer"), ("nlp", None), ("vision", None)]
    assert all(t["can_read_quota"] and t["can_edit_quota"] for t in body["results"])


def test_a_platform_admin_opens_a_team_they_are_not_a_member_of(api, outsider_admin, make_pipeline, now):
    from pipelines import services
    from tests.builders import spec, step

    vision = outsider_admin["vision"]
    run = services.submit_run(make_pipeline(spec(step("work")), team=vision), user=None, now=now)
    client = api.as_user(outsider_admin["root"])

    team = client.get(f"/api/teams/{vision.pk}/")
    queue = client.get(f"/api/teams/{vision.pk}/queue/")
    quota = client.get(f"/api/teams/{vision.pk}/quota/")

    assert (team.status_code, queue.status_code, quota.status_code) == (200, 200, 200)
    assert (team.json()["name"], team.json()["role"], team.json()["can_edit_quota"]) == ("vision", None, True)
    assert [w["run_id"] for w in queue.json()["waiting"]] == [run.pk]
    assert quota.json()["quota"]["cpu"] == 8.0


def test_a_team_that_does_not_exist_is_a_404_for_platform_admins_too(api, outsider_admin):
    client = api.as_user(outsider_admin["root"])

    assert client.get("/api/teams/999999/").status_code == 404
    assert client.get("/api/teams/999999/queue/").status_code == 404


def test_members_still_see_only_their_own_teams(api, outsider_admin, make_user):
    ada = make_user("ada", team=outsider_admin["vision"])

    body = api.as_user(ada).get("/api/teams/").json()

    assert [t["name"] for t in body["results"]] == ["vision"]
    assert api.as_user(ada).get(f"/api/teams/{outsider_admin['nlp'].pk}/queue/").status_code == 404
