"""admit() takes shortcuts for speed (shapes worked out once, refusals reused while nothing
changed, failed preemption asks not retried); admit_plainly() works every step out from scratch.
They must give exactly the same decision, reasons included, on any input. Runs without Django.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.core import POLICIES, admit, placement
from scheduling.core.admission import admit_holding, admit_plainly
from scheduling.core.ledger import Ledger
from scheduling.core.policies import get
from scheduling.core.types import Node, Request, Running, Snapshot, TeamQuota, Waiting

from .scenario import NOW, T0

TEAMS = ("ads", "nlp", "vision", "speech")
CLASSES = ("", "a100", "v100")


@st.composite
def clusters(draw) -> tuple[Node, ...]:
    count = draw(st.integers(1, 6))
    return tuple(Node(f"n{i}", cpu=draw(st.sampled_from([8, 16, 32])), memory_mb=65536,
                      gpu=draw(st.sampled_from([0, 4, 8])), gpu_class=draw(st.sampled_from(CLASSES[1:])),
                      labels={"zone": draw(st.sampled_from(["x", "y"]))})
                 for i in range(count))


@st.composite
def quotas(draw) -> dict[str, TeamQuota]:
    out = {}
    for t in TEAMS:
        if not draw(st.integers(0, 6)):
            continue  # now and then a team without a quota
        classes = draw(st.sampled_from([{}, {}, {"a100": draw(st.integers(0, 8))}]))
        out[t] = TeamQuota(cpu=draw(st.sampled_from([8, 32, 1000])), memory_mb=10**6, gpu=draw(st.integers(0, 16)),
                           gpu_classes=classes, cohort=draw(st.sampled_from(["", "lab", "lab"])),
                           borrowing_limit=draw(st.none() | st.fixed_dictionaries({"gpu": st.integers(0, 8)})))
    return out


def steps(first_id: int, count: int, *, pipelines=("", "", "train", "eval")):
    return st.tuples(*(
        st.builds(
            Waiting, step_run_id=st.just(first_id + i), team=st.sampled_from(TEAMS),
            request=st.builds(Request, cpu=st.sampled_from([0.5, 1, 4]), memory_mb=st.sampled_from([1024, 4096]),
                              gpu=st.sampled_from([0, 1, 2, 4, 8]), gpu_class=st.sampled_from(CLASSES)),
            submitted_at=st.integers(0, 7200).map(lambda s: T0 + timedelta(seconds=s)),
            priority=st.integers(0, 3), estimate_s=st.none() | st.sampled_from([60.0, 600.0, 7200.0]),
            gang=st.sampled_from([1, 1, 1, 2, 3]), is_preemptible=st.booleans(),
            node_selector=st.sampled_from([{}, {}, {}, {"zone": "x"}]),
            pipeline=st.sampled_from(pipelines), run_id=st.integers(1, 3),
            excludes=st.sampled_from([frozenset(), frozenset(), frozenset({"train"})]),
            ready_at=st.none() | st.just(NOW + timedelta(minutes=5)),
        )
        for i in range(count)
    ))


@st.composite
def snapshots(draw) -> Snapshot:
    """Running work made by admitting a first queue on the empty cluster, then a long queue of
    look-alike steps (so that shortcuts are taken often)."""
    cluster, q = draw(clusters()), draw(quotas())
    first = draw(steps(1000, draw(st.integers(0, 10))))
    start = admit_plainly(Snapshot(first, (), q, nodes=cluster), policy="fifo", now=T0)
    by_id = {w.step_run_id: w for w in first}
    running = tuple(
        Running(a.step_run_id, w.team, w.request, nodes=a.nodes, gang=len(a.nodes), priority=w.priority,
                is_preemptible=w.is_preemptible, is_borrowed=a.is_borrowed, started_at=T0, estimate_s=w.estimate_s,
                pipeline=w.pipeline, run_id=w.run_id, excludes=w.excludes)
        for a in start.placements for w in [by_id[a.step_run_id]]
    )
    queue = draw(steps(1, draw(st.integers(0, 40))))
    return Snapshot(queue, running, q, nodes=cluster)


def in_use(ledger: Ledger) -> dict:
    """What each team holds (rounded; a resource once held and given back counts as none)."""
    return {t: {k: round(v, 6) for k, v in u.items() if round(v, 6)} for t, u in ledger.team_used.items()
            if any(round(v, 6) for v in u.values())}


policies = st.sampled_from([*sorted(POLICIES), "strict fifo"])


def policy_named(name: str):
    return get("fifo", head_of_line="block") if name == "strict fifo" else name


@settings(max_examples=300, deadline=None)
@given(snapshots(), policies)
def test_the_shortcuts_give_the_same_decision_and_reasons_as_working_every_step_out(snap, name):
    policy = policy_named(name)

    assert admit(snap, policy=policy, now=NOW) == admit_plainly(snap, policy=policy, now=NOW)


@st.composite
def crowded_snapshots(draw) -> Snapshot:
    """Many like nodes (so placement meets long buckets of them) and a long queue."""
    count = draw(st.integers(4, 16))
    cluster = tuple(Node(f"n{i:02d}", cpu=8, memory_mb=65536, gpu=draw(st.sampled_from([0, 8])), gpu_class="a100",
                         labels={"zone": "x"}) for i in range(count))
    q = draw(quotas())
    first = draw(steps(1000, draw(st.integers(0, 20)), pipelines=("",)))
    start = admit_plainly(Snapshot(first, (), q, nodes=cluster), policy="fifo", now=T0)
    by_id = {w.step_run_id: w for w in first}
    running = tuple(Running(a.step_run_id, w.team, w.request, nodes=a.nodes, gang=len(a.nodes), priority=w.priority,
                            is_preemptible=w.is_preemptible, is_borrowed=a.is_borrowed, started_at=T0,
                            estimate_s=w.estimate_s) for a in start.placements for w in [by_id[a.step_run_id]])
    return Snapshot(draw(steps(1, draw(st.integers(0, 60)), pipelines=("",))), running, q, nodes=cluster)


@settings(max_examples=200, deadline=None)
@given(crowded_snapshots(), policies)
def test_placement_skips_the_nodes_an_earlier_search_found_too_full_without_changing_a_decision(snap, name):
    policy = policy_named(name)

    with patch.object(placement, "SHORT", 1):  # skip from a bucket's second node on, as in a large cluster
        assert admit(snap, policy=policy, now=NOW) == admit_plainly(snap, policy=policy, now=NOW)


@settings(max_examples=150, deadline=None)
@given(snapshots(), policies)
def test_a_kept_ledger_gives_the_same_decision_and_is_left_as_it_was(snap, name):
    policy = policy_named(name)
    ledger = Ledger.build(snap.nodes, snap.quotas, snap.running)
    with_ledger = replace(snap, ledger=ledger)
    before = (ledger.free_cpu[:], ledger.free_gpu[:], in_use(ledger))

    decision = admit(with_ledger, policy=policy, now=NOW)

    assert decision == admit_plainly(snap, policy=policy, now=NOW)
    assert (ledger.free_cpu, ledger.free_gpu, in_use(ledger)) == before


@settings(max_examples=150, deadline=None)
@given(snapshots(), policies)
def test_admit_holding_leaves_the_ledger_holding_what_it_admitted_unless_it_preempted(snap, name):
    policy = policy_named(name)
    ledger = Ledger.build(snap.nodes, snap.quotas, snap.running)

    decision = admit_holding(replace(snap, ledger=ledger), policy=policy, now=NOW)

    by_id = {w.step_run_id: w for w in snap.waiting}
    expected = Ledger.build(snap.nodes, snap.quotas, snap.running)
    if not decision.preempted:
        for a in decision.placements:
            w = by_id[a.step_run_id]
            expected.hold(w.team, w.request, [expected.node_index[n] for n in a.nodes], pipeline=w.pipeline,
                          run_id=w.run_id, excludes=w.excludes)
    assert ledger.free_gpu == expected.free_gpu and ledger.free_cpu == expected.free_cpu
    assert in_use(ledger) == in_use(expected)
