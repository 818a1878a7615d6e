"""scheduling.core.admission: who is admitted, why the others wait, and the invariants behind it.

Runs without Django: ``pytest tests/core/test_admission.py -p no:django``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.core import admit
from scheduling.core.types import Capacity, Decision, Request, Running, Snapshot, TeamQuota, Waiting
from tests.builders import SUBMITTED_AT, capacity, quota, request, running, snapshot, waiting

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
TOLERANCE = 1e-9  # the fit check's own slack for float cpu


def fifo(snap: Snapshot) -> Decision:
    return admit(snap, policy="fifo", now=NOW)


# -- order -----------------------------------------------------------------------------------


def test_steps_are_admitted_by_submit_time_then_by_id():
    later = SUBMITTED_AT + timedelta(seconds=1)
    snap = snapshot([waiting(1, submitted_at=later), waiting(3), waiting(2)], quotas={"a": quota(cpu=2)})

    decision = fifo(snap)

    assert decision.admitted == (2, 3)
    assert decision.blocked == {1: "team a: cpu 2 of 2 in use, asks 1"}


def test_a_blocked_big_step_does_not_hold_back_a_smaller_one_behind_it():
    snap = snapshot([waiting(1, cpu=4), waiting(2, cpu=1)], running=[running(team="a", cpu=5)],
                    quotas={"a": quota(cpu=8)})

    decision = fifo(snap)

    assert decision.admitted == (2,)
    assert decision.blocked == {1: "team a: cpu 5 of 8 in use, asks 4"}


# -- readable refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snap", "reason"),
    [
        (snapshot([waiting(1, team="vision", gpu=1)], running=[running(team="vision", gpu=8)],
                  quotas={"vision": quota(gpu=8)}),
         "team vision: gpu 8 of 8 in use, asks 1"),
        (snapshot([waiting(1, team="vision", memory_mb=4096)], running=[running(team="nlp", memory_mb=6144)],
                  capacity=capacity(memory_mb=8192)),
         "cluster: memory MB 6144 of 8192 in use, asks 4096"),
        (snapshot([waiting(1, team="vision", cpu=0.5)], quotas={"vision": quota(cpu=1.5)},
                  running=[running(team="vision", cpu=1.5)]),
         "team vision: cpu 1.5 of 1.5 in use, asks 0.5"),
    ],
    ids=["a team's gpus in use", "the cluster's memory in use", "fractions of a cpu"],
)
def test_a_step_that_does_not_fit_now_waits_with_a_readable_reason(snap, reason):
    assert fifo(snap).blocked == {1: reason}


def test_a_team_without_a_quota_is_blocked_with_a_reason():
    snap = snapshot([waiting(1, team="nlp"), waiting(2, team="vision")], quotas={"vision": quota()})

    decision = fifo(snap)

    assert decision.admitted == (2,)
    assert decision.blocked == {1: "team nlp has no quota yet: an admin must set one"}


@pytest.mark.parametrize(
    ("ask", "reason"),
    [
        (dict(cpu=16), "asks for 16 cpu but the largest node has 8"),
        (dict(gpu=4), "asks for 4 gpu but team vision's quota has 2"),
        (dict(memory_mb=40000), "asks for 40000 memory MB but team vision's quota has 32768"),
    ],
    ids=["above the largest node", "above the team's whole gpu quota", "above the team's whole memory quota"],
)
def test_a_request_that_can_never_fit_is_impossible(ask, reason):
    snap = snapshot([waiting(1, team="vision", **ask), waiting(2, team="vision")],
                    quotas={"vision": quota(cpu=32, memory_mb=32768, gpu=2)},
                    capacity=capacity(cpu=64, gpu=8, largest_node=request(cpu=8, memory_mb=65536, gpu=4)))

    decision = fifo(snap)

    assert decision.impossible == {1: reason}
    assert (decision.admitted, decision.blocked) == ((2,), {})


@pytest.mark.parametrize(("ready_in_s", "admitted"), [(30, ()), (0, (1,)), (-30, (1,))],
                         ids=["ready later", "ready now", "ready earlier"])
def test_a_step_in_retry_backoff_waits_until_its_ready_time(ready_in_s, admitted):
    snap = snapshot([waiting(1, ready_at=NOW + timedelta(seconds=ready_in_s))])

    decision = fifo(snap)

    assert decision.admitted == admitted
    if not admitted:
        assert decision.blocked == {1: "retry backoff until 2026-12-01T12:00:30+00:00"}


# -- properties over random clusters ---------------------------------------------------------

TEAMS = ("ads", "nlp", "vision")


def halves(least: float, most: float):
    """cpu in halves (exact in binary)."""
    return st.integers(int(2 * least), int(2 * most)).map(lambda n: n / 2)


def gibibytes(least: int, most: int):
    return st.integers(least, most).map(lambda n: n * 1024)


# Requests are small beside quotas and capacity, so that several fit before a limit is reached;
# now and then one is zero, or larger than a limit.
requests = st.builds(Request, cpu=halves(0, 3), memory_mb=gibibytes(0, 8), gpu=st.sampled_from([0, 0, 0, 1, 2]))
SMALL = dict(cpu=halves(0, 8), memory_mb=gibibytes(0, 32), gpu=st.integers(0, 4))
LARGE = dict(cpu=halves(8, 32), memory_mb=gibibytes(32, 128), gpu=st.integers(4, 16))
READY_ATS = st.sampled_from([None, None, None, NOW - timedelta(seconds=30), NOW + timedelta(seconds=30)])


def fits(request: Request, used: Request, limit: Request) -> bool:
    return all(getattr(used, r) + getattr(request, r) <= getattr(limit, r) + TOLERANCE
               for r in ("cpu", "memory_mb", "gpu"))


def total(requests) -> Request:
    out = Request(0.0, 0, 0)
    for r in requests:
        out = out + r
    return out


@st.composite
def snapshots(draw, *, is_cluster_empty: bool = False) -> Snapshot:
    """Random teams (now and then one without a quota), a cluster with or without a largest node,
    running step runs that fit their team and the cluster (as admission leaves them), and
    waiting ones with ties in submit time, some in retry backoff. Either the teams' quotas or
    the cluster is the tight limit, so that both are reached often."""
    teams = draw(st.lists(st.sampled_from(TEAMS), min_size=1, max_size=len(TEAMS), unique=True))
    quota_limits, cluster_limits = draw(st.sampled_from([(SMALL, LARGE), (LARGE, SMALL)]))
    with_quota = [t for t in teams if draw(st.integers(0, 4))]  # 1 in 5 has none
    quotas = {t: draw(st.builds(TeamQuota, **quota_limits)) for t in with_quota}
    largest = st.none() | st.builds(Request, cpu=halves(1, 8), memory_mb=gibibytes(2, 32), gpu=st.integers(0, 4))
    cap = draw(st.builds(Capacity, **cluster_limits, largest_node=largest))

    held: list[Running] = []
    candidates = [] if is_cluster_empty or not with_quota else draw(
        st.lists(st.tuples(st.sampled_from(with_quota), requests), max_size=8))
    for i, (team, req) in enumerate(candidates):
        mine = total(r.request for r in held if r.team == team)
        if fits(req, mine, quotas[team].as_request()) and fits(req, total(r.request for r in held), cap.as_request()):
            held.append(Running(step_run_id=1000 + i, team=team, request=req))

    ids = draw(st.lists(st.integers(1, 999), unique=True, min_size=1, max_size=16))
    queue = tuple(
        Waiting(
            step_run_id=i,
            team=draw(st.sampled_from(teams)),
            request=draw(requests),
            submitted_at=SUBMITTED_AT + timedelta(seconds=draw(st.integers(0, 5))),
            ready_at=draw(READY_ATS),
        )
        for i in ids
    )
    return Snapshot(waiting=queue, running=tuple(held), quotas=quotas, capacity=cap)


@settings(max_examples=200)  # overshooting needs several admissions against one limit: rarer
@given(snapshots())
def test_what_is_admitted_plus_what_runs_stays_within_capacity_and_every_team_quota(snap):
    decision = fifo(snap)

    by_id = {w.step_run_id: w for w in snap.waiting}
    holding = [*snap.running, *(by_id[i] for i in decision.admitted)]
    nothing = Request(0.0, 0, 0)
    assert fits(nothing, total(h.request for h in holding), snap.capacity.as_request())
    per_team = defaultdict(list)
    for h in holding:
        per_team[h.team].append(h.request)
    for team, asks in per_team.items():
        assert team in snap.quotas
        assert fits(nothing, total(asks), snap.quotas[team].as_request()), team


@given(snapshots())
def test_every_waiting_step_is_exactly_one_of_admitted_blocked_or_impossible(snap):
    decision = fifo(snap)

    admitted, blocked, impossible = set(decision.admitted), set(decision.blocked), set(decision.impossible)
    assert len(decision.admitted) == len(admitted)
    assert not (admitted & blocked or admitted & impossible or blocked & impossible)
    assert admitted | blocked | impossible == {w.step_run_id for w in snap.waiting}
    assert all(decision.blocked.values()) and all(decision.impossible.values())


@given(st.data(), snapshots())
def test_admitting_is_deterministic_whatever_the_order_of_the_waiting_steps(data, snap):
    shuffled = replace(snap, waiting=tuple(data.draw(st.permutations(snap.waiting))))

    decisions = [fifo(snap), fifo(snap), fifo(shuffled)]

    assert decisions[0] == decisions[1] == decisions[2]


@given(st.data(), snapshots(is_cluster_empty=True))
def test_a_step_that_fits_alone_on_an_empty_cluster_is_admitted_when_first_in_line(data, snap):
    team = data.draw(st.sampled_from(TEAMS))
    team_quota = snap.quotas.get(team) or data.draw(st.builds(TeamQuota, **SMALL))
    bounds = [snap.capacity.as_request(), team_quota.as_request()]
    if snap.capacity.largest_node is not None:
        bounds.append(snap.capacity.largest_node)
    ask = Request(
        cpu=data.draw(halves(0, min(b.cpu for b in bounds))),
        memory_mb=data.draw(st.integers(0, min(b.memory_mb for b in bounds))),
        gpu=data.draw(st.integers(0, min(b.gpu for b in bounds))),
    )
    ready_at = data.draw(st.sampled_from([None, NOW, NOW - timedelta(minutes=1)]))
    first = Waiting(step_run_id=0, team=team, request=ask, submitted_at=SUBMITTED_AT, ready_at=ready_at)
    snap = replace(snap, waiting=(*snap.waiting, first), quotas={**snap.quotas, team: team_quota})

    decision = fifo(snap)

    assert decision.admitted[:1] == (0,)
