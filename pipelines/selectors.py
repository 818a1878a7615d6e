"""Every read of pipelines and runs, scoped to the caller's teams.

``pipelines`` does not import ``scheduling``: teams and memberships are reached through the
relations the models declare (``team__memberships__user``) or ``apps.get_model``.
"""
from __future__ import annotations

from django.apps import apps
from django.db.models import QuerySet

from .models import Pipeline, Run, StepRun, StepRunEvent

ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2}


def _membership_model():
    return apps.get_model("scheduling", "Membership")


def role_in(user, team_id: int) -> str | None:
    """The user's role in the team, or None when not a member."""
    if not user.is_authenticated:
        return None
    return _membership_model().objects.filter(user=user, team_id=team_id).values_list("role", flat=True).first()


def has_role(user, team_id: int, role: str) -> bool:
    mine = role_in(user, team_id)
    return mine is not None and ROLE_RANK[mine] >= ROLE_RANK[role]


def teams_for(user) -> QuerySet:
    return apps.get_model("scheduling", "Team").objects.filter(memberships__user=user).select_related("quota")


def pipelines_for(user) -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(team__memberships__user=user).select_related("team", "created_by")


def runs_for(user) -> QuerySet[Run]:
    return Run.objects.filter(team__memberships__user=user).select_related("pipeline", "team", "version", "created_by")


def step_runs_of(run: Run) -> QuerySet[StepRun]:
    return StepRun.objects.filter(run=run).order_by("id")


def events_after(run_id: int, after: int) -> list[dict]:
    """The run's events with a sequence number above ``after``, as websocket messages, in order."""
    return [e.as_message() for e in StepRunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")]


def can_watch_run(user, run_id: int) -> bool:
    return runs_for(user).filter(pk=run_id).exists()
