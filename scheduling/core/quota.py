"""The one fit check: does a request fit in what is left of a limit, and may a team borrow?

A team may use up to its nominal quota on every resource key it names. Beyond that it borrows,
which needs a cohort (teams that lend each other what they do not use), room in the cohort
(the cohort's use stays within the sum of its members' nominal quotas) and, when the team has
one, its borrowing limit. A step that cannot be preempted never borrows: borrowed capacity must
be returnable when its owner wants it back.
"""
from __future__ import annotations

from typing import Mapping

from .types import Request, TeamQuota

RESOURCES = (("cpu", "cpu"), ("memory_mb", "memory MB"), ("gpu", "gpu"))
EPS = 1e-9


def _fmt(value: float) -> str:
    return f"{value:g}"


def label(key: str) -> str:
    if key.startswith("gpu/"):
        return f"{key[4:]} gpu"
    return "memory MB" if key == "memory_mb" else key


def describe(request: Request) -> str:
    parts = [f"{label(attr)} {_fmt(getattr(request, attr))}" for attr, _ in RESOURCES if getattr(request, attr)]
    return ", ".join(parts) or "nothing"


def shortfall(request: Request, used: Request, limit: Request, *, who: str) -> str | None:
    """None if ``request`` fits beside ``used`` within ``limit``, else a readable reason.

    >>> shortfall(Request(1, 0, 1), Request(0, 0, 8), Request(64, 10**6, 8), who="team vision")
    'team vision: gpu 8 of 8 in use, asks 1'
    """
    for attr, name in RESOURCES:
        asked, busy, cap = getattr(request, attr), getattr(used, attr), getattr(limit, attr)
        if asked > 0 and busy + asked > cap + EPS:
            return f"{who}: {name} {_fmt(busy)} of {_fmt(cap)} in use, asks {_fmt(asked)}"
    return None


def exceeds(request: Request, limit: Request, *, what: str) -> str | None:
    """None if ``request`` could ever fit in ``limit``, else which limit it exceeds."""
    for attr, name in RESOURCES:
        asked, cap = getattr(request, attr), getattr(limit, attr)
        if asked > cap + EPS:
            return f"asks for {_fmt(asked)} {name} but {what} has {_fmt(cap)}"
    return None


def team_shortfall(team: str, quota: TeamQuota, asks: Mapping[str, float], *, used: Mapping[str, float],
                   nominal: Mapping[str, float], cohort_used: Mapping[str, float] | None,
                   cohort_nominal: Mapping[str, float] | None, may_borrow: bool) -> tuple[str | None, bool]:
    """(why the team cannot take ``asks`` now or None, whether taking it borrows).

    >>> q = TeamQuota(cpu=64, memory_mb=10**6, gpu=8, cohort="lab")
    >>> team_shortfall("vision", q, {"gpu": 1}, used={"gpu": 8}, nominal=q.nominal(),
    ...                cohort_used={"gpu": 16}, cohort_nominal={"gpu": 16}, may_borrow=True)
    ('team vision: gpu 8 of 8 in use, asks 1; cohort has 0 to lend', True)
    """
    borrows = False
    for key, asked in asks.items():
        cap = nominal.get(key)
        if cap is None or asked <= 0:
            continue  # a GPU class the quota does not limit on its own
        busy = used.get(key, 0.0)
        if busy + asked <= cap + EPS:
            continue
        head = f"team {team}: {label(key)} {_fmt(busy)} of {_fmt(cap)} in use, asks {_fmt(asked)}"
        if not quota.cohort or cohort_nominal is None:
            return head, False
        if not may_borrow:
            return f"{head}; a step that cannot be preempted does not borrow", False
        limit = None if quota.borrowing_limit is None else quota.borrowing_limit.get(key)
        if limit is not None and busy + asked > cap + limit + EPS:
            return f"{head}; borrowing limit {_fmt(limit)} reached", False
        in_cohort = (cohort_used or {}).get(key, 0.0)
        room = cohort_nominal.get(key, 0.0) - in_cohort
        if asked > room + EPS:
            lend = max(0.0, room - max(0.0, cap - busy))
            return f"{head}; cohort has {_fmt(lend)} to lend", False
        borrows = True
    return None, borrows


def team_never(team: str, quota: TeamQuota, asks: Mapping[str, float], *, nominal: Mapping[str, float],
               cohort_nominal: Mapping[str, float] | None, may_borrow: bool = True) -> str | None:
    """Why ``asks`` exceeds the team's whole quota, borrowing included; None if it could fit."""
    for key, asked in asks.items():
        cap = nominal.get(key)
        if cap is None:
            continue
        most, what = cap, f"team {team}'s quota"
        if quota.cohort and cohort_nominal is not None and may_borrow:
            lendable = cohort_nominal.get(key, cap) - cap
            limit = None if quota.borrowing_limit is None else quota.borrowing_limit.get(key)
            most = cap + (lendable if limit is None else min(limit, lendable))
            what = f"team {team}'s quota with borrowing"
        if asked > most + EPS:
            return f"asks for {_fmt(asked)} {label(key)} but {what} has {_fmt(most)}"
    return None
