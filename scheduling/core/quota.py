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
    refusal, borrows = team_verdict(team, quota, asks, used=used, nominal=nominal, cohort_used=cohort_used,
                                    cohort_nominal=cohort_nominal, may_borrow=may_borrow)
    return (None if refusal is None else refusal_text(refusal)), borrows


Refusal = tuple  # (team, resource key, in use, nominal, asked, why it may not borrow, its figure)


def team_verdict(team: str, quota: TeamQuota, asks: Mapping[str, float], *, used: Mapping[str, float],
                 nominal: Mapping[str, float], cohort_used: Mapping[str, float] | None,
                 cohort_nominal: Mapping[str, float] | None, may_borrow: bool) -> tuple[Refusal | None, bool]:
    """``team_shortfall`` in figures, not words: (the refusal or None, whether taking it borrows).
    A refusal is a plain tuple, so a caller that meets the same one again can reuse its text
    (``refusal_text``) instead of writing it out anew."""
    borrows = False
    for key, asked in asks.items():
        cap = nominal.get(key)
        if cap is None or asked <= 0:
            continue  # a GPU class the quota does not limit on its own
        busy = used.get(key, 0.0)
        if busy + asked <= cap + EPS:
            continue
        refusal = borrowing_refusal(team, quota, key, busy, cap, asked, cohort_used, cohort_nominal, may_borrow)
        if refusal is not None:
            return refusal, False
        borrows = True
    return None, borrows


def borrowing_refusal(team: str, quota: TeamQuota, key: str, busy: float, cap: float, asked: float,
                      cohort_used: Mapping[str, float] | None, cohort_nominal: Mapping[str, float] | None,
                      may_borrow: bool) -> Refusal | None:
    """Why the team may not borrow ``asked`` of ``key`` beyond its nominal ``cap`` with ``busy``
    in use (None: it may)."""
    terms = Borrowing(team, quota, key, cap, cohort_nominal, may_borrow)
    return terms.refusal(busy, asked, {quota.cohort: cohort_used} if cohort_used is not None else {})


class Borrowing:
    """The terms on which a team may borrow one resource key beyond its nominal quota ``cap``,
    worked out once (they depend on its quota and its cohort's only)."""

    __slots__ = ("team", "key", "cap", "never", "limit", "cohort", "cohort_cap")

    def __init__(self, team: str, quota: TeamQuota, key: str, cap: float, cohort_nominal: Mapping[str, float] | None,
                 may_borrow: bool) -> None:
        self.team, self.key, self.cap, self.cohort = team, key, cap, quota.cohort
        self.never: str | None = None  # why it may never borrow ("": it has no cohort), or None
        if not quota.cohort or cohort_nominal is None:
            self.never = ""
        elif not may_borrow:
            self.never = "preemptible"
        self.limit = None if quota.borrowing_limit is None else quota.borrowing_limit.get(key)
        self.cohort_cap = 0.0 if cohort_nominal is None else cohort_nominal.get(key, 0.0)

    def refusal(self, busy: float, asked: float, cohort_used: Mapping[str, Mapping[str, float]]) -> Refusal | None:
        """Why it may not borrow ``asked`` with ``busy`` in use, its cohort's members holding
        ``cohort_used[cohort]`` (None: it may)."""
        cap = self.cap
        if self.never is not None:
            return (self.team, self.key, busy, cap, asked, self.never, 0.0)
        limit = self.limit
        if limit is not None and busy + asked > cap + limit + EPS:
            return (self.team, self.key, busy, cap, asked, "limit", limit)
        room = self.cohort_cap - (cohort_used.get(self.cohort) or NO_USE).get(self.key, 0.0)
        if asked > room + EPS:
            return (self.team, self.key, busy, cap, asked, "lend", max(0.0, room - max(0.0, cap - busy)))
        return None


NO_USE: Mapping[str, float] = {}


def refusal_text(refusal: Refusal) -> str:
    """The words for a ``team_verdict`` refusal."""
    team, key, busy, cap, asked, why, figure = refusal
    head = f"team {team}: {label(key)} {_fmt(busy)} of {_fmt(cap)} in use, asks {_fmt(asked)}"
    if why == "preemptible":
        return f"{head}; a step that cannot be preempted does not borrow"
    if why == "limit":
        return f"{head}; borrowing limit {_fmt(figure)} reached"
    if why == "lend":
        return f"{head}; cohort has {_fmt(figure)} to lend"
    return head


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
