"""Properties of admit() over random clusters of nodes, cohorts, gangs and every policy.

Running step runs are made the way a cluster gets them, by admitting a random queue onto the
empty cluster first, so they are consistent with nodes and quotas. Runs without Django.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.core import POLICIES, admit
from scheduling.core.types import Decision, Request, Running, Snapshot, Waiting

from .scenario import NOW, T0, gpu_quota, nodes

TEAMS = ("ads", "nlp", "vision")
EPS = 1e-9


def waiting_steps(ids):
    return st.tuples(*(
        st.builds(
            Waiting, step_run_id=st.just(i), team=st.sampled_from(TEAMS),
            request=st.builds(Request, cpu=st.sampled_from([0.5, 1, 4]), memory_mb=st.just(1024),
                              gpu=st.sampled_from([0, 1, 2, 4, 8])),
            submitted_at=st.integers(0, 5).map(lambda s: T0 + timedelta(seconds=s)),
            priority=st.integers(0, 3), estimate_s=st.none() | st.sampled_from([60.0, 600.0, 7200.0]),
            gang=st.sampled_from([1, 1, 1, 2, 3]), is_preemptible=st.booleans(),
        )
        for i in ids
    ))


@st.composite
def snapshots(draw) -> Snapshot:
    cluster = nodes(draw(st.integers(1, 4)), gpu=draw(st.sampled_from([4, 8])), cpu=16)
    has_cohort = draw(st.booleans())
    quotas = {t: gpu_quota(draw(st.integers(0, 16)), cohort="lab" if has_cohort else "",
                           borrowing_limit=draw(st.none() | st.integers(0, 8)))
              for t in TEAMS if draw(st.integers(0, 5))}
    first = draw(waiting_steps(range(100, 100 + draw(st.integers(0, 8)))))
    start = admit(Snapshot(first, (), quotas, nodes=cluster), policy="fifo", now=T0)
    by_id = {w.step_run_id: w for w in first}
    running = tuple(
        Running(a.step_run_id, by_id[a.step_run_id].team, by_id[a.step_run_id].request, nodes=a.nodes,
                gang=len(a.nodes), priority=by_id[a.step_run_id].priority,
                is_preemptible=by_id[a.step_run_id].is_preemptible, is_borrowed=a.is_borrowed, started_at=T0,
                estimate_s=by_id[a.step_run_id].estimate_s)
        for a in start.placements
    )
    queue = draw(waiting_steps(draw(st.lists(st.integers(1, 99), unique=True, max_size=12))))
    return Snapshot(queue, running, quotas, nodes=cluster)


policies = st.sampled_from(sorted(POLICIES))


def holdings(snap: Snapshot, decision: Decision):
    """(team, request, node) for every pod held once the decision is carried out."""
    by_id = {w.step_run_id: w for w in snap.waiting}
    out = [(r.team, r.request, n) for r in snap.running if r.step_run_id not in decision.preempted for n in r.nodes]
    out += [(by_id[a.step_run_id].team, by_id[a.step_run_id].request, n) for a in decision.placements for n in a.nodes]
    return out


@settings(max_examples=200)
@given(snapshots(), policies)
def test_what_is_admitted_never_exceeds_a_node_nor_a_teams_nominal_quota_plus_borrowing(snap, policy):
    decision = admit(snap, policy=policy, now=NOW)

    per_node, per_team = defaultdict(lambda: [0.0, 0.0, 0.0]), defaultdict(float)
    for team, req, node in holdings(snap, decision):
        per_node[node][0] += req.cpu
        per_node[node][2] += req.gpu
        per_team[team] += req.gpu
    for n in snap.nodes:
        assert per_node[n.name][0] <= n.cpu + EPS and per_node[n.name][2] <= n.gpu, n.name
    cohort_total = sum(q.gpu for q in snap.quotas.values() if q.cohort)
    for team, gpus in per_team.items():
        q = snap.quotas[team]
        if not q.cohort:
            assert gpus <= q.gpu
        else:
            limit = q.borrowing_limit["gpu"] if q.borrowing_limit else cohort_total
            assert gpus <= q.gpu + limit


@settings(max_examples=200)
@given(snapshots(), policies)
def test_a_gang_is_never_partly_admitted_and_every_step_gets_one_answer(snap, policy):
    decision = admit(snap, policy=policy, now=NOW)

    by_id = {w.step_run_id: w for w in snap.waiting}
    assert all(len(a.nodes) == by_id[a.step_run_id].gang for a in decision.placements)
    answered = [*decision.admitted, *decision.blocked, *decision.impossible]
    assert sorted(answered) == sorted(by_id)
    assert set(decision.preempted) <= {r.step_run_id for r in snap.running}


@settings(max_examples=200)
@given(st.data(), snapshots(), policies)
def test_the_same_input_gives_the_same_decision_whatever_its_order(data, snap, policy):
    shuffled = replace(snap, waiting=tuple(data.draw(st.permutations(snap.waiting))),
                       running=tuple(data.draw(st.permutations(snap.running))))

    decisions = [admit(snap, policy=policy, now=NOW), admit(snap, policy=policy, now=NOW),
                 admit(shuffled, policy=policy, now=NOW)]

    assert decisions[0] == decisions[1] == decisions[2]


@settings(max_examples=200)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 4), st.integers(1, 8), policies)
def test_a_team_under_its_nominal_quota_gets_its_capacity_back_within_one_decision(
        node_count, lender_share, borrower_gpus, ask, policy):
    """The lender owns ``lender_share`` whole nodes; the borrower holds every GPU, the lender's
    borrowed. Whatever the lender asks within its nominal quota is admitted, or room is made for
    it by preempting borrowed work (the caller starts it once they stopped, after their grace)."""
    cluster = nodes(node_count + lender_share, gpu=8, cpu=16)
    lender_gpus = 8 * lender_share
    ask = min(ask, 8)
    quotas = {"lender": gpu_quota(lender_gpus, cohort="lab"), "borrower": gpu_quota(8 * node_count, cohort="lab")}
    running = tuple(
        Running(1000 + 8 * i + k, "borrower", Request(1, 1024, 1), nodes=(n.name,), is_preemptible=True,
                is_borrowed=i >= node_count, started_at=T0 + timedelta(seconds=8 * i + k))
        for i, n in enumerate(cluster) for k in range(8)
    )
    snap = Snapshot((Waiting(1, "lender", Request(1, 1024, ask), T0),), running, quotas, nodes=cluster)

    decision = admit(snap, policy=policy, now=NOW)

    assert decision.admitted == (1,) or decision.blocked[1].startswith("waits for preempted step run")
    victims = [r for r in running if r.step_run_id in decision.preempted]
    assert all(r.is_borrowed for r in victims) and len(victims) == ask


@settings(max_examples=200)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 8), policies, st.booleans())
def test_a_team_under_its_nominal_quota_runs_its_step_once_the_preempted_steps_have_stopped(
        node_count, lender_share, ask, policy, is_gang):
    """One dispatch cycle preempts borrowed work; once it has stopped (its grace period), the next
    cycle admits the lender's step, under every policy."""
    cluster = nodes(node_count + lender_share, gpu=8, cpu=16)
    quotas = {"lender": gpu_quota(8 * lender_share, cohort="lab"), "borrower": gpu_quota(8 * node_count, cohort="lab")}
    running = tuple(
        Running(1000 + 8 * i + k, "borrower", Request(1, 1024, 1), nodes=(n.name,), is_preemptible=True,
                is_borrowed=i >= node_count, started_at=T0 + timedelta(seconds=8 * i + k), estimate_s=600.0)
        for i, n in enumerate(cluster) for k in range(8)
    )
    gang = 2 if is_gang and lender_share >= 2 else 1
    ask = min(ask, 8) if gang == 1 else 8
    waiting = (Waiting(1, "lender", Request(1, 1024, ask), T0, estimate_s=60.0, gang=gang),)

    first = admit(Snapshot(waiting, running, quotas, nodes=cluster), policy=policy, now=NOW)
    assert first.admitted == () and set(first.preempted)
    after_grace = tuple(r for r in running if r.step_run_id not in first.preempted)
    second = admit(Snapshot(waiting, after_grace, quotas, nodes=cluster), policy=policy, now=NOW + timedelta(seconds=30))

    assert second.admitted == (1,)
    assert second.preempted == {}


@settings(max_examples=200)
@given(snapshots(), st.integers(0, 3), st.integers(1, 10))
def test_under_priority_nothing_starves_a_step_that_waited_long_enough_goes_first(snap, priority, hours_more):
    """Priorities here lie in 0..3 and a step gains a point per hour waited: one that waited more
    than 3 hours longer than every other step is considered first, whatever its priority."""
    oldest = min((w.submitted_at for w in snap.waiting), default=T0)
    starving = Waiting(9999, "ads", Request(1, 1024, 1), oldest - timedelta(hours=3 + hours_more), priority=priority)
    queue = replace(snap, waiting=(*snap.waiting, starving))

    for policy in ("priority", "resource_aware"):
        assert admit(queue, policy=policy, now=NOW).order[0] == 9999
