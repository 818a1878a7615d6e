"""The attempts of one step, told from its events.

A step run is one row whose ``attempt`` counts its tries; what happened to the earlier tries is
kept only in its events, each recorded with the attempt it belongs to. A retry's ``queued`` event
already belongs to the new attempt, so the failure that caused it stays the last event of the old
one. A preempted attempt goes back in line as the same attempt: it is listed once, admitted more
than once.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .. import states
from ..models import StepRun, StepRunEvent

EVENT_FIELDS = ("attempt", "to_status", "reason", "exit_code", "at")


def attempts_of(step_run: StepRun) -> list[dict[str, Any]]:
    """Every attempt of ``step_run``, oldest first (one query, whatever the number of events)."""
    events = (StepRunEvent.objects.filter(step_run=step_run).order_by("seq").values(*EVENT_FIELDS))
    return summarise(events, step_run)


def summarise(events: Iterable[Mapping[str, Any]], step_run: StepRun) -> list[dict[str, Any]]:
    """The attempts told by ``events`` (in sequence order), oldest first.

    For each attempt: its status, reason and exit code are those of its last event (as the step
    run's own columns are for the latest); ``queued_at`` and ``started_at`` are when it first
    became ready and first ran (a preemption does not move them); ``finished_at`` is when it
    ended, if it has; ``admissions`` counts its admissions. Events do not record the node, so only
    the latest attempt has one, the step run's. The latest attempt is listed even before its first
    event (a step run starts pending without one).
    """
    by_attempt: dict[int, dict[str, Any]] = {}
    for event in events:
        attempt = by_attempt.setdefault(event["attempt"], _blank(event["attempt"]))
        _apply(attempt, event)
    latest = by_attempt.setdefault(step_run.attempt, _blank(step_run.attempt))
    if latest["status"] is None:  # no event yet: the step run's own state
        latest.update(status=step_run.status, reason=step_run.reason, exit_code=step_run.exit_code,
                      admissions=step_run.admissions)
    latest["node"] = step_run.node or None
    return [by_attempt[n] for n in sorted(by_attempt)]


def _blank(attempt: int) -> dict[str, Any]:
    return {"attempt": attempt, "status": None, "queued_at": None, "started_at": None, "finished_at": None,
            "node": None, "exit_code": None, "reason": "", "admissions": 0}


def _apply(attempt: dict[str, Any], event: Mapping[str, Any]) -> None:
    to, at = event["to_status"], event["at"]
    attempt.update(status=to, reason=event["reason"], exit_code=event["exit_code"],
                   finished_at=at if to in states.STEP_FINAL else None)
    if to == states.QUEUED:
        attempt["queued_at"] = _first(attempt["queued_at"], at)
    elif to == states.RUNNING:
        attempt["started_at"] = _first(attempt["started_at"], at)
    elif to == states.ADMITTED:
        attempt["admissions"] += 1


def _first(held: datetime | None, at: datetime) -> datetime:
    return held if held is not None else at
