"""A real daphne server and a websocket client: every transition, in order, resumable."""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pipelines import services
from pipelines.models import Run, StepRunEvent
from tests.conftest import wait_until
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    s = Stack().start("worker", "watcher", "web")
    yield s
    s.stop()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_socket(stack, run_id, user, after=None):
    query = "" if after is None else f"?after={after}"
    return connect(f"ws://127.0.0.1:{stack.port}/ws/runs/{run_id}/{query}", origin=stack.base_url,
                   additional_headers={"Cookie": session_cookie(user)}, open_timeout=10)


def receive_until_final(ws, timeout_s=60):
    messages = []
    while True:
        message = json.loads(ws.recv(timeout=timeout_s))
        messages.append(message)
        if message.get("run_status") in FINAL or message.get("type") == "snapshot" and message["run"]["status"] in FINAL:
            return messages


def chain(n=3):
    steps = [{"name": f"s{i}", "type": "custom", "command": ["sh", "-c", "sleep 0.2"],
              "resources": {"cpu": 0.1, "memory_mb": 64}, "depends_on": [f"s{i - 1}"] if i else []}
             for i in range(n)]
    return {"steps": steps}


@pytest.fixture
def team_and_user(make_team, make_user):
    team = make_team("vision")
    return team, make_user("ada", team=team)


def submit(team, user, spec):
    pipeline = services.create_pipeline(team=team, name="chain", spec=spec, user=user)
    return services.submit_run(pipeline, user=user, now=timezone.now())


def stored_events(run):
    return [e.as_message() for e in StepRunEvent.objects.filter(run=run).order_by("seq")]


def test_client_receives_snapshot_then_every_transition_in_order(stack, team_and_user):
    team, user = team_and_user
    run = submit(team, user, chain(3))
    with open_socket(stack, run.pk, user) as ws:
        snapshot, *events = receive_until_final(ws)
    assert snapshot["type"] == "snapshot"
    assert [s["step"] for s in snapshot["run"]["step_runs"]] == ["s0", "s1", "s2"]
    assert [e["seq"] for e in events] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(events)))
    assert events == stored_events(run)[snapshot["seq"]:]
    assert events[-1]["run_status"] == "succeeded"


def test_reconnecting_with_the_last_sequence_number_gets_exactly_what_was_missed(stack, team_and_user):
    team, user = team_and_user
    run = submit(team, user, chain(4))
    with open_socket(stack, run.pk, user) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        first = [json.loads(ws.recv(timeout=30)) for _ in range(3)]
    last_seen = first[-1]["seq"]
    wait_until(lambda: Run.objects.get(pk=run.pk).status in FINAL, what="the run to finish")
    with open_socket(stack, run.pk, user, after=last_seen) as ws:
        rest = receive_until_final(ws)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)  # nothing doubled after the end
    received = [e for e in first if e["seq"] > snapshot["seq"]] + rest
    assert [e["seq"] for e in received] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(received)))
    assert received == stored_events(run)[snapshot["seq"]:]


def test_only_members_of_the_runs_team_may_connect(stack, team_and_user, make_team, make_user):
    team, user = team_and_user
    run = submit(team, user, chain(1))
    outsider = make_user("eve", team=make_team("audio"))
    with pytest.raises(InvalidStatus) as refused:
        with open_socket(stack, run.pk, outsider):
            pass
    assert refused.value.response.status_code == 403
