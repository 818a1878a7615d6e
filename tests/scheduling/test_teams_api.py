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
         "quota": {"cpu": 2.5, "memory_mb": 4096, "gpu": 0}},
        {"id": vision.pk, "name": "vision", "display_name": "Computer vision", "role": "editor",
         "quota": {"cpu": 16.0, "memory_mb": 65536, "gpu": 4}},
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
