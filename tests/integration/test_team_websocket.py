"""ws/teams/<id>/ through a real daphne server, Celery worker and watcher: the queue on connect,
a fresh one when the team's step runs change or its quota does, one update per burst."""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pipelines import outbox, services

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    from tests.stack import Stack

    s = Stack().start("worker", "watcher", "web")
    yield s
    s.stop()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_socket(stack, team_id, user):
    return connect(f"ws://127.0.0.1:{stack.port}/ws/teams/{team_id}/", origin=stack.base_url,
                   additional_headers={"Cookie": session_cookie(user)}, open_timeout=10)


def receive(ws, timeout_s=60) -> dict:
    message = json.loads(ws.recv(timeout=timeout_s))
    assert message["type"] == "queue"
    return message["queue"]


def receive_until(ws, predicate, timeout_s=60) -> list[dict]:
    seen = []
    while True:
        seen.append(receive(ws, timeout_s))
        if predicate(seen[-1]):
            return seen


def without_time(queue: dict) -> dict:
    return {k: v for k, v in queue.items() if k != "as_of"}


def sleeper(seconds: float) -> dict:
    return {"steps": [{"name": "nap", "type": "custom", "command": ["sh", "-c", f"sleep {seconds}"],
                       "resources": {"cpu": 1, "memory_mb": 64}}]}


@pytest.fixture
def team_and_user(make_team, make_user):
    team = make_team("vision", cpu=1, memory_mb=1024)
    return team, make_user("ada", team=team, role="viewer")


def test_on_connect_a_member_gets_the_same_queue_as_the_endpoint(stack, team_and_user):
    team, user = team_and_user
    api = APIClient()
    api.force_authenticate(user)

    with open_socket(stack, team.pk, user) as ws:
        first = receive(ws, 10)

    assert without_time(first) == without_time(api.get(f"/api/teams/{team.pk}/queue/").json())
    assert first["team"] == "vision"


def test_the_queue_follows_the_teams_step_runs_as_they_wait_run_and_finish(stack, team_and_user):
    team, user = team_and_user
    with open_socket(stack, team.pk, user) as ws:
        receive(ws, 10)
        pipeline = services.create_pipeline(team=team, name="nap", spec=sleeper(1), user=user)
        first = services.submit_run(pipeline, user=user, now=timezone.now())
        second = services.submit_run(pipeline, user=user, now=timezone.now())

        seen = receive_until(ws, lambda q: [a["run_id"] for a in q["active"]] == [first.pk]
                             and [w["run_id"] for w in q["waiting"]] == [second.pk])
        waiting = seen[-1]["waiting"][0]
        assert waiting["reason"] == "team vision: cpu 1 of 1 in use, asks 1"
        assert {u["resource"]: u["used"] for u in seen[-1]["usage"]}["cpu"] == 1.0

        receive_until(ws, lambda q: [a["run_id"] for a in q["active"]] == [second.pk] and not q["waiting"])
        receive_until(ws, lambda q: not q["active"] and not q["waiting"])


def test_a_quota_change_sends_a_fresh_queue(stack, team_and_user, make_user):
    team, user = team_and_user
    admin = make_user("root")
    admin.is_staff = True
    admin.save()
    api = APIClient()
    api.force_authenticate(admin)

    with open_socket(stack, team.pk, user) as ws:
        receive(ws, 10)
        assert api.patch(f"/api/teams/{team.pk}/quota/", {"cpu": 3}, format="json").status_code == 200
        fresh = receive(ws, 30)

    assert {u["resource"]: u["nominal"] for u in fresh["usage"]}["cpu"] == 3.0


def test_a_burst_of_changes_sends_one_update(stack, team_and_user):
    team, user = team_and_user
    with open_socket(stack, team.pk, user) as ws:
        receive(ws, 10)
        for _ in range(20):
            outbox.publish_team_changed([team.pk])
        receive(ws, 30)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.5)  # the other nineteen were coalesced into that one


def test_only_members_of_the_team_may_connect(stack, team_and_user, make_team, make_user):
    team, _ = team_and_user
    outsider = make_user("eve", team=make_team("audio"))

    with pytest.raises(InvalidStatus) as refused:
        with open_socket(stack, team.pk, outsider):
            pass

    assert refused.value.response.status_code == 403


def test_a_platform_admin_who_is_no_member_may_connect(stack, team_and_user, make_user):
    team, _ = team_and_user
    root = make_user("root")
    root.is_staff = True
    root.save()

    with open_socket(stack, team.pk, root) as ws:
        first = receive(ws, 10)

    assert first["team"] == "vision"


def test_a_team_that_does_not_exist_refuses_platform_admins_too(stack, make_user):
    root = make_user("root")
    root.is_staff = True
    root.save()

    with pytest.raises(InvalidStatus) as refused:
        with open_socket(stack, 999999, root):
            pass

    assert refused.value.response.status_code == 403
