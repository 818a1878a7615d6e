"""admit(): which waiting step runs to start now, and why each other one waits."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from . import quota
from .policies import POLICIES
from .types import NOTHING, Decision, Request, Snapshot


def admit(snap: Snapshot, *, policy: str, now: datetime) -> Decision:
    """Admit, in policy order, every waiting step run that fits; say why each other one waits.

    A step run fits when its team's usage plus its request stays within the team's quota, and
    the cluster's usage plus its request stays within capacity. One that does not fit does not
    hold back the ones behind it. A request larger than the largest node (or the team's whole
    quota) can never fit: it is reported in ``impossible`` so the caller can fail it.
    """
    order = POLICIES[policy](snap.waiting, snap, now)
    team_used: dict[str, Request] = defaultdict(lambda: NOTHING)
    cluster_used = NOTHING
    for r in snap.running:
        team_used[r.team] = team_used[r.team] + r.request
        cluster_used = cluster_used + r.request

    admitted: list[int] = []
    blocked: dict[int, str] = {}
    impossible: dict[int, str] = {}
    largest = snap.capacity.largest_node or snap.capacity.as_request()
    for w in order:
        team_quota = snap.quotas.get(w.team)
        if team_quota is None:
            blocked[w.step_run_id] = f"team {w.team} has no quota yet: an admin must set one"
            continue
        never = quota.exceeds(w.request, largest, what="the largest node") or quota.exceeds(
            w.request, team_quota.as_request(), what=f"team {w.team}'s quota"
        )
        if never:
            impossible[w.step_run_id] = never
            continue
        if w.ready_at is not None and w.ready_at > now:
            blocked[w.step_run_id] = f"retry backoff until {w.ready_at.isoformat(timespec='seconds')}"
            continue
        why = quota.shortfall(w.request, team_used[w.team], team_quota.as_request(), who=f"team {w.team}") or (
            quota.shortfall(w.request, cluster_used, snap.capacity.as_request(), who="cluster")
        )
        if why:
            blocked[w.step_run_id] = why
            continue
        admitted.append(w.step_run_id)
        team_used[w.team] = team_used[w.team] + w.request
        cluster_used = cluster_used + w.request
    return Decision(policy=policy, admitted=tuple(admitted), blocked=blocked, impossible=impossible)
