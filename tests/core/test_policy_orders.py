"""Each policy's order, held to a plain statement of it: a sort by (its key, submit time, id), and
for fair share the team with the lowest share first, re-ranked after each of its steps, while
admissions change what teams hold. Runs without Django.
"""
from __future__ import annotations

import heapq
import math
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.core.ledger import Ledger
from scheduling.core.policies import get
from scheduling.core.types import Node, Request, Snapshot, TeamQuota, Usage, Waiting

from .scenario import NOW, T0

TEAMS = ("ads", "nlp", "vision")


@st.composite
def queues(draw) -> tuple[Waiting, ...]:
    ids = draw(st.lists(st.integers(1, 10_000), unique=True, max_size=40))
    return tuple(
        Waiting(sid, draw(st.sampled_from(TEAMS)), Request(1, 1024, draw(st.sampled_from([0, 1, 2]))),
                T0 + timedelta(seconds=draw(st.sampled_from([0, 0, 30, 3600, 7200, 9000]))),  # ties, and older than now
                priority=draw(st.integers(0, 3)), estimate_s=draw(st.none() | st.sampled_from([60.0, 600.0, 60.0])))
        for sid in ids)


def plainly_sorted(waiting, key) -> list[int]:
    return [w.step_run_id for w in sorted(waiting, key=lambda w: (key(w), w.submitted_at, w.step_run_id))]


def ids(order) -> list[int]:
    return [w.step_run_id for w in order]


@settings(max_examples=200, deadline=None)
@given(queues())
def test_fifo_sjf_and_priority_sort_by_their_key_then_submit_time_then_id(waiting):
    now, snap = NOW, Snapshot(waiting, (), {})

    def aged(w):
        return -(w.priority + 1 / 3600 * max(0.0, (now - w.submitted_at).total_seconds()))

    assert ids(get("fifo").order(waiting, snap, now, get("fifo"), None)) == plainly_sorted(waiting, lambda w: 0)
    assert ids(get("sjf").order(waiting, snap, now, get("sjf"), None)) == plainly_sorted(
        waiting, lambda w: math.inf if w.estimate_s is None else w.estimate_s)
    assert ids(get("priority").order(waiting, snap, now, get("priority"), None)) == plainly_sorted(waiting, aged)


def fair_share_plainly(waiting, snap, now, policy, ledger):
    """Fair share as the policy states it: after each step, its team goes back in line with its
    share as it is then."""
    totals = [sum(p.total[k] for p in ledger.pools) or 1.0 for k in range(3)]
    queues: dict[str, list[Waiting]] = {}
    for w in sorted(waiting, key=lambda w: (w.submitted_at, w.step_run_id)):
        queues.setdefault(w.team, []).append(w)

    def share(team):
        u = snap.usage.get(team)
        f = 0.5 ** (max(0.0, (now - u.as_of).total_seconds()) / policy.half_life_s) / policy.half_life_s if u else 0.0
        past = (u.cpu_s * f, u.memory_mb_s * f, u.gpu_s * f) if u else (0.0, 0.0, 0.0)
        used = ledger.team_used.get(team, {})
        held = (used.get("cpu", 0.0), used.get("memory_mb", 0.0), used.get("gpu", 0.0))
        q = snap.quotas[team]
        weight = max(max((q.cpu, q.memory_mb, q.gpu)[k] / totals[k] for k in range(3)), 1e-9)
        return max((held[k] + past[k]) / totals[k] for k in range(3)) / weight

    heap = [(share(t), t) for t in queues]
    heapq.heapify(heap)
    while heap:
        _, team = heapq.heappop(heap)
        yield queues[team].pop(0)
        if queues[team]:
            heapq.heappush(heap, (share(team), team))


@settings(max_examples=300, deadline=None)
@given(queues(), st.dictionaries(st.sampled_from(TEAMS), st.sampled_from([0.0, 3600.0, 36000.0])),
       st.sets(st.integers(0, 9)))
def test_fair_share_reranks_a_team_after_each_of_its_steps_as_admissions_change_its_share(waiting, gpu_hours, admitted):
    nodes = (Node("n0", 64, 10**6, 8), Node("n1", 64, 10**6, 8))
    quotas = {t: TeamQuota(cpu=64, memory_mb=10**6, gpu=g, cohort="lab") for t, g in zip(TEAMS, (4, 8, 4))}
    usage = {t: Usage(gpu_s=s, as_of=NOW - timedelta(hours=1)) for t, s in gpu_hours.items()}
    snap = Snapshot(waiting, (), quotas, nodes=nodes, usage=usage)
    policy = get("fair_share", half_life_s=3600)

    def replay(order, ledger):
        out = []
        for w in order:  # some steps are admitted as they come: their team's share grows
            out.append(w.step_run_id)
            if w.step_run_id % 10 in admitted:
                ledger.hold(w.team, w.request, [0])
        return out

    ledger, plain_ledger = Ledger.build(nodes, quotas), Ledger.build(nodes, quotas)
    assert (replay(policy.order(waiting, snap, NOW, policy, ledger), ledger)
            == replay(fair_share_plainly(waiting, snap, NOW, policy, plain_ledger), plain_ledger))
