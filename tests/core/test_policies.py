"""Scenarios per policy, quota, placement and constraint, with the orders and reasons expected.

Runs without Django: ``pytest tests/core -p no:django``.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling.core import admit
from scheduling.core.policies import get
from scheduling.core.types import Node, Usage

from .scenario import NOW, gpu_quota, held, job, nodes, snap

ONE_NODE = nodes(1, gpu=8)


# -- sjf and srtf ------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "first"), [("fifo", 1), ("sjf", 2)], ids=["fifo: the earlier", "sjf: the shorter"])
def test_sjf_runs_the_5_minute_step_before_the_2_hour_one_submitted_earlier(policy, first):
    s = snap([job(1, gpu=8, estimate_s=7200, at_s=0), job(2, gpu=8, estimate_s=300, at_s=10)], cluster=ONE_NODE)

    decision = admit(s, policy=policy, now=NOW)

    assert decision.admitted == (first,)


def test_srtf_preempts_a_running_step_with_more_time_left_than_the_waiting_one_needs():
    s = snap([job(1, gpu=8, estimate_s=300)], [held(9, gpu=8, estimate_s=7200, started_s_ago=600)], cluster=ONE_NODE)

    decision = admit(s, policy="srtf", now=NOW)

    assert decision.preempted == {9: "preempted for step run 1, which has less time to run (300 s < 6600 s)"}
    assert decision.blocked == {1: "waits for preempted step run 9 to stop"}


def test_srtf_leaves_a_step_that_is_nearly_done_alone():
    s = snap([job(1, gpu=8, estimate_s=300)], [held(9, gpu=8, estimate_s=7200, started_s_ago=7000)], cluster=ONE_NODE)

    decision = admit(s, policy="srtf", now=NOW)

    assert decision.preempted == {}
    assert decision.blocked == {1: "cluster: gpu 8 of 8 in use, asks 8"}


# -- priority ----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["priority", "resource_aware"])
def test_priority_preempts_a_lower_priority_preemptible_step(policy):
    s = snap([job(1, gpu=4, priority=10)], [held(7, gpu=4, priority=0), held(8, gpu=4, priority=5, started_s_ago=10)],
             cluster=ONE_NODE)

    decision = admit(s, policy=policy, now=NOW)

    assert decision.preempted == {7: "preempted for step run 1 of higher priority (10 > 0)"}
    assert decision.blocked == {1: "waits for preempted step run 7 to stop"}


@pytest.mark.parametrize("policy", ["priority", "resource_aware"])
def test_priority_never_preempts_a_step_that_is_not_preemptible(policy):
    s = snap([job(1, gpu=4, priority=10)], [held(7, gpu=8, priority=0, is_preemptible=False)], cluster=ONE_NODE)

    decision = admit(s, policy=policy, now=NOW)

    assert decision.preempted == {}
    assert decision.blocked == {1: "cluster: gpu 8 of 8 in use, asks 4"}


def test_priority_ageing_lets_a_long_waiting_low_priority_step_overtake():
    old = job(1, gpu=8, priority=0, at_s=-10 * 3600)  # waited 11 hours: 0 + 11 points
    new = job(2, gpu=8, priority=5, at_s=3500)

    decision = admit(snap([new, old], cluster=ONE_NODE), policy="priority", now=NOW)

    assert decision.admitted == (1,)


# -- fair share --------------------------------------------------------------------------------


def test_fair_share_alternates_two_equal_teams_even_when_one_submitted_everything_first():
    a = [job(i, team="a", gpu=1, at_s=i) for i in range(1, 5)]
    b = [job(i, team="b", gpu=1, at_s=100 + i) for i in range(11, 15)]
    s = snap([*a, *b], cluster=nodes(1, gpu=4), quotas={"a": gpu_quota(4), "b": gpu_quota(4)})

    decision = admit(s, policy="fair_share", now=NOW)

    assert decision.admitted == (1, 11, 2, 12)
    assert admit(s, policy="fifo", now=NOW).admitted == (1, 2, 3, 4)


def test_fair_share_puts_the_team_that_used_more_recently_last():
    s = snap([job(1, team="a", gpu=8), job(2, team="b", gpu=8, at_s=60)], cluster=ONE_NODE,
             quotas={"a": gpu_quota(8), "b": gpu_quota(8)}, usage={"a": Usage(gpu_s=8 * 3600, as_of=NOW)})

    decision = admit(s, policy=get("fair_share", half_life_s=3600), now=NOW)

    assert decision.admitted == (2,)


@pytest.mark.parametrize(("hours_ago", "first"), [(0, 2), (10, 1)], ids=["recent use counts", "old use decayed"])
def test_fair_share_forgets_past_usage_over_its_half_life(hours_ago, first):
    """Team a used 8 GPU-hours, b one just now; with a one-hour half-life, a's use ten hours ago
    has decayed to 8/1024 of a GPU-hour, less than b's."""
    s = snap([job(1, team="a", gpu=8), job(2, team="b", gpu=8, at_s=60)], cluster=ONE_NODE,
             quotas={"a": gpu_quota(8), "b": gpu_quota(8)},
             usage={"a": Usage(gpu_s=8 * 3600, as_of=NOW - timedelta(hours=hours_ago)), "b": Usage(gpu_s=3600, as_of=NOW)})

    decision = admit(s, policy=get("fair_share", half_life_s=3600), now=NOW)

    assert decision.admitted == (first,)


def test_fair_share_weighs_teams_by_their_share():
    """Team a's weight is three times b's: of four GPUs it gets three, b one."""
    a = [job(i, team="a", gpu=1, at_s=i) for i in range(1, 5)]
    b = [job(i, team="b", gpu=1, at_s=i) for i in range(11, 15)]
    s = snap([*a, *b], cluster=nodes(1, gpu=4),
             quotas={"a": gpu_quota(4, weight=3.0), "b": gpu_quota(4, weight=1.0)})

    decision = admit(s, policy="fair_share", now=NOW)

    assert sorted(decision.admitted) == [1, 2, 3, 11]


# -- head of line: skip, strict, and backfill with a reservation --------------------------------


def backfill_case(small_estimate_s: float):
    """6 of 8 GPUs busy for another hour; a big step (8) waits first, a small one (2) behind it."""
    return snap([job(1, gpu=8, at_s=0, estimate_s=3600), job(2, gpu=2, at_s=10, estimate_s=small_estimate_s)],
                [held(9, gpu=6, estimate_s=7200, started_s_ago=3600, is_preemptible=False)], cluster=ONE_NODE)


def test_backfill_admits_a_small_step_that_ends_before_the_reserved_big_one_would_start():
    decision = admit(backfill_case(1800), policy="resource_aware", now=NOW)

    assert decision.admitted == (2,)
    assert decision.blocked == {1: "cluster: gpu 6 of 8 in use, asks 8"}


def test_backfill_refuses_a_small_step_that_would_delay_the_reserved_big_one():
    decision = admit(backfill_case(7200), policy="resource_aware", now=NOW)

    assert decision.admitted == ()
    assert decision.blocked[2] == "would delay step run 1, reserved to start at 2026-12-01T13:00:00+00:00"


def test_strict_fifo_does_not_let_the_small_step_pass_the_big_one():
    decision = admit(backfill_case(1800), policy=get("fifo", head_of_line="block"), now=NOW)

    assert decision.admitted == ()
    assert decision.blocked == {1: "cluster: gpu 6 of 8 in use, asks 8", 2: "behind step run 1 (strict head of line)"}


def test_plain_fifo_lets_the_small_step_pass_whatever_its_length():
    assert admit(backfill_case(7200), policy="fifo", now=NOW).admitted == (2,)


# -- quotas: borrowing and reclaim ---------------------------------------------------------------


def test_a_team_borrows_what_its_cohort_does_not_use():
    s = snap([job(1, team="a", gpu=6)], cluster=ONE_NODE,
             quotas={"a": gpu_quota(4, cohort="lab"), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.admitted == (1,)
    assert decision.placements[0].is_borrowed


@pytest.mark.parametrize("policy", ["fifo", get("fifo", head_of_line="block"), "sjf", "srtf", "priority",
                                    "fair_share", "resource_aware"],
                         ids=lambda p: p if isinstance(p, str) else "strict fifo")
def test_a_lenders_queued_work_is_not_lent_away_to_a_borrower_ahead_of_it(policy):
    # a's step came first, but fits only on b's unused quota; b's own step asks for that quota
    s = snap([job(1, team="a", gpu=6, estimate_s=60), job(2, team="b", gpu=4, at_s=1, estimate_s=60)],
             cluster=ONE_NODE, quotas={"a": gpu_quota(4, cohort="lab"), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy=policy, now=NOW)

    assert decision.admitted == (2,)
    assert decision.blocked == {1: "team a: gpu 0 of 4 in use, asks 6; cohort has 0 to lend"}
    assert decision.preempted == {}


def test_a_borrower_gets_what_is_left_once_every_team_had_its_nominal_quota():
    s = snap([job(1, team="a", gpu=6), job(2, team="b", gpu=1, at_s=1)],
             cluster=ONE_NODE, quotas={"a": gpu_quota(4, cohort="lab"), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.admitted == (2, 1)
    assert [p.is_borrowed for p in decision.placements] == [False, True]


def test_a_team_at_its_quota_waits_when_its_cohort_has_nothing_to_lend():
    s = snap([job(1, team="vision", gpu=1)], [held(9, team="nlp", gpu=8, on=("n1",))],
             cluster=nodes(2, gpu=8), quotas={"vision": gpu_quota(8, cohort="lab"), "nlp": gpu_quota(8, cohort="lab")})
    s = snap([job(1, team="vision", gpu=1)],
             [held(8, team="vision", gpu=8, on=("n0",)), held(9, team="nlp", gpu=8, on=("n1",))],
             cluster=nodes(2, gpu=8), quotas=s.quotas)

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.blocked == {1: "team vision: gpu 8 of 8 in use, asks 1; cohort has 0 to lend"}


def test_a_team_borrows_no_more_than_its_borrowing_limit():
    s = snap([job(1, team="a", gpu=3)], [held(9, team="a", gpu=4)], cluster=ONE_NODE,
             quotas={"a": gpu_quota(4, cohort="lab", borrowing_limit=2), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.blocked == {1: "team a: gpu 4 of 4 in use, asks 3; borrowing limit 2 reached"}


def test_a_step_that_cannot_be_preempted_does_not_borrow():
    s = snap([job(1, team="a", gpu=2, is_preemptible=False)], [held(9, team="a", gpu=4)], cluster=ONE_NODE,
             quotas={"a": gpu_quota(4, cohort="lab"), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.blocked == {1: "team a: gpu 4 of 4 in use, asks 2; a step that cannot be preempted does not borrow"}


def test_a_team_under_its_nominal_quota_reclaims_borrowed_capacity_by_preemption():
    borrowed = [held(10 + i, team="b", gpu=1, is_borrowed=i >= 4, started_s_ago=100 - i) for i in range(8)]
    s = snap([job(1, team="a", gpu=2)], borrowed, cluster=ONE_NODE,
             quotas={"a": gpu_quota(4, cohort="lab"), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy="fifo", now=NOW)

    reason = "preempted: team a reclaims its nominal quota for step run 1"
    assert decision.preempted == {17: reason, 16: reason}  # the most recently started borrowed ones
    assert decision.blocked == {1: "waits for preempted step runs 16, 17 to stop"}


@pytest.mark.parametrize("policy", ["sjf", "srtf", "priority", "fair_share", "resource_aware"])
def test_every_policy_reclaims_borrowed_capacity_for_a_team_under_its_nominal_quota(policy):
    s = snap([job(1, team="a", gpu=4, estimate_s=600)], [held(10, team="b", gpu=8, is_borrowed=True, estimate_s=60)],
             cluster=ONE_NODE, quotas={"a": gpu_quota(4, cohort="lab"), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy=policy, now=NOW)

    assert decision.preempted == {10: "preempted: team a reclaims its nominal quota for step run 1"}


def test_a_team_over_its_nominal_quota_does_not_reclaim():
    s = snap([job(1, team="a", gpu=2)], [held(9, team="a", gpu=4), held(10, team="b", gpu=4, is_borrowed=True)],
             cluster=ONE_NODE, quotas={"a": gpu_quota(4, cohort="lab"), "b": gpu_quota(4, cohort="lab")})

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.preempted == {}


# -- gangs, placement, selectors, exclusion ------------------------------------------------------


def test_a_gang_is_admitted_whole_or_not_at_all():
    busy = [held(9, gpu=4, on=("n0",))]
    too_big = admit(snap([job(1, gpu=8, gang=2)], busy), policy="fifo", now=NOW)
    fits = admit(snap([job(1, gpu=4, gang=2)], busy), policy="fifo", now=NOW)

    assert (too_big.admitted, too_big.blocked) == ((), {1: "cluster: gpu 4 of 16 in use, asks 16"})
    assert fits.placements[0].nodes == ("n0", "n1")


def test_multi_node_gangs_go_on_whole_free_nodes():
    cluster = nodes(4, gpu=8)
    s = snap([job(1, gpu=8, gang=2)], [held(9, gpu=1, on=("n1",))], cluster=cluster)

    assert admit(s, policy="fifo", now=NOW).placements[0].nodes == ("n0", "n2")


def test_a_pod_goes_on_the_fullest_node_that_fits_it():
    s = snap([job(1, gpu=2)], [held(8, gpu=2, on=("n0",)), held(9, gpu=6, on=("n1",))], cluster=nodes(3, gpu=8))

    assert admit(s, policy="fifo", now=NOW).placements[0].nodes == ("n1",)


def test_a_node_selector_and_gpu_class_choose_the_nodes():
    cluster = (*nodes(1, gpu=8, gpu_class="v100", prefix="old"), *nodes(1, gpu=8, gpu_class="a100", prefix="new", zone="eu"))
    fast = job(1, gpu=2, node_selector={"zone": "eu"})
    nowhere = job(2, gpu=2, node_selector={"zone": "us"})

    decision = admit(snap([fast, nowhere], cluster=cluster), policy="fifo", now=NOW)

    assert decision.placements[0].nodes == ("new0",)
    assert decision.impossible == {2: "no node has label zone=us"}


def test_a_step_whose_pipeline_must_not_run_beside_a_running_one_waits_with_that_reason():
    running = [held(9, gpu=1, pipeline="train-en", run_id=90)]
    later = job(1, gpu=1, pipeline="train-de", run_id=10, excludes=frozenset({"train-en"}))
    named = job(2, gpu=1, pipeline="train-en", run_id=20, at_s=5)
    s = snap([later, named], [*running, held(8, gpu=1, pipeline="export", run_id=80, excludes=frozenset({"train-en"}))])

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.blocked == {
        1: "pipeline train-de must not run beside pipeline train-en, which is running",
        2: "pipeline export, which is running, must not run beside pipeline train-en",
    }


def test_a_request_larger_than_the_team_quota_with_borrowing_is_impossible():
    s = snap([job(1, team="a", gpu=4, gang=3)], cluster=nodes(2, gpu=8),
             quotas={"a": gpu_quota(4, cohort="lab", borrowing_limit=4), "b": gpu_quota(8, cohort="lab")})

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.impossible == {1: "asks for 12 gpu but team a's quota with borrowing has 8"}


def test_a_gpu_class_quota_limits_that_class_on_its_own():
    cluster = (*nodes(1, gpu=8, gpu_class="a100", prefix="a"), *nodes(1, gpu=8, gpu_class="v100", prefix="v"))
    quota = gpu_quota(8, gpu_classes={"a100": 2, "v100": 8})
    s = snap([job(1, gpu=4)], [held(9, gpu=2, on=("a0",))], cluster=cluster, quotas={"a": quota})

    decision = admit(s, policy="fifo", now=NOW)

    assert decision.placements[0].nodes == ("v0",)


def test_nodes_report_their_totals_when_an_executor_names_no_nodes():
    s = snap([job(1, gpu=2)], cluster=(Node("cluster", 64, 262144, 8, largest=None),))

    assert admit(s, policy="fifo", now=NOW).placements[0].nodes == ("cluster",)
