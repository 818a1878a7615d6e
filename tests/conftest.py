"""Fixtures shared by the Django-backed tests. Real services come from tests/harness.py."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def make_team(db):
    from scheduling.models import Quota, Team

    def make(name: str = "vision", *, cpu: float = 8, memory_mb: int = 65536, gpu: int = 0) -> Team:
        team = Team.objects.create(name=name)
        Quota.objects.create(team=team, cpu=cpu, memory_mb=memory_mb, gpu=gpu)
        return team

    return make


@pytest.fixture
def make_pipeline(db, make_team):
    """``make_pipeline(spec(...), team=...)``: a pipeline whose version 1 is that spec (a
    PipelineSpec from tests/builders.py); without ``team``, a new team "vision" owns it."""
    from pipelines import services
    from pipelines.spec import spec_to_dict

    def make(pipeline_spec, *, team=None, name: str = "pipe"):
        return services.create_pipeline(team=team or make_team(), name=name, spec=spec_to_dict(pipeline_spec),
                                        user=None)

    return make


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    from scheduling.models import Membership

    def make(username: str = "ada", *, team=None, role: str = "editor"):
        user = get_user_model().objects.create_user(username=username, password="pw-" + username)
        if team is not None:
            Membership.objects.create(team=team, user=user, role=role)
        return user

    return make


@pytest.fixture
def api(db):
    """An API client; ``api.as_user(user)`` logs in by forcing authentication."""

    from rest_framework.test import APIClient

    client = APIClient()

    def as_user(user):
        client.force_authenticate(user)
        return client

    client.as_user = as_user
    return client


def wait_until(predicate, *, timeout_s: float = 60, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; integration tests wait on state."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture(autouse=True)
def _quiet_stack_after_each_test(request):
    """Before the database is flushed, let the running processes finish what the test started
    (on PostgreSQL a flush racing their last writes can deadlock)."""
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").quiesce()
