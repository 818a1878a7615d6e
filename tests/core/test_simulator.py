"""The trace simulator on hand-computed traces, the metrics, and a smoke run on the Philly sample."""
from __future__ import annotations

from pathlib import Path

import pytest

from scheduling.core import metrics
from scheduling.core.policies import POLICIES
from scheduling.core.simulator import Job, Options, load_teams, load_trace, simulate, table

REPO = Path(__file__).resolve().parents[2]
DATA = next((d for d in (REPO.parent / "shared" / "data", Path("/work/shared/data")) if d.exists()), None)
TRACE = "philly_sample_2017-12-01.csv"

# One 8-GPU node; three whole-node jobs: a long one, then a medium and a short one behind it.
THREE = [Job("long", 0, 100, 8, "a"), Job("medium", 10, 50, 8, "a"), Job("short", 20, 10, 8, "a")]


def jcts(result) -> dict[str, float]:
    return {o.job.job_id: o.finished_s - o.job.submit_s for o in result.outcomes}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # long 0-100, medium 100-150, short 150-160
        ("fifo", {"long": 100, "medium": 140, "short": 140}),
        # long 0-100, short 100-110, medium 110-160
        ("sjf", {"long": 100, "medium": 150, "short": 90}),
        # medium preempts long at 10 (50 < 90 left); short preempts medium at 20 (10 < 40 left);
        # short 20-30, medium 30-70, long 70-160
        ("srtf", {"long": 160, "medium": 60, "short": 10}),
    ],
    ids=["fifo", "sjf", "srtf"],
)
def test_completion_times_match_the_hand_computed_schedule(policy, expected):
    result = simulate(THREE, Options(policy=policy, gpus=8))

    assert jcts(result) == expected
    assert result.summary["mean_jct_s"] == pytest.approx(sum(expected.values()) / 3)
    assert result.summary["gpu_utilisation"] == pytest.approx(1.0)


def test_srtf_counts_the_waits_after_a_preemption_as_queueing_delay():
    result = simulate(THREE, Options(policy="srtf", gpus=8))

    delays = {o.job.job_id: o.finished_s - o.job.submit_s - o.ran_s for o in result.outcomes}
    assert delays == {"long": 60, "medium": 10, "short": 0}
    assert result.summary["preemptions"] == 2


def test_strict_head_of_line_holds_small_jobs_behind_a_big_one_and_backfill_does_not():
    jobs = [Job("busy", 0, 100, 4, "a"), Job("big", 1, 10, 8, "a"), Job("small", 2, 10, 2, "a")]

    greedy = jcts(simulate(jobs, Options(policy="fifo", gpus=8)))
    strict = jcts(simulate(jobs, Options(policy="fifo", gpus=8, is_strict=True)))

    assert greedy == {"busy": 100, "big": 109, "small": 10}
    assert strict == {"busy": 100, "big": 109, "small": 118}


def test_borrowing_lets_a_team_use_an_idle_teams_quota():
    jobs = [Job("one", 0, 10, 8, "a"), Job("two", 0, 10, 8, "a")]
    quotas = {"a": 8, "b": 8}

    alone = jcts(simulate(jobs, Options(policy="fifo", gpus=16, quotas=quotas)))
    borrowing = jcts(simulate(jobs, Options(policy="fifo", gpus=16, quotas=quotas, is_borrowing=True)))

    assert alone == {"one": 10, "two": 20}
    assert borrowing == {"one": 10, "two": 10}


def test_isolated_clusters_report_teams_without_a_quota_as_unscheduled():
    jobs = [Job("one", 0, 10, 8, "a"), Job("two", 0, 10, 8, "a"), Job("lost", 0, 10, 1, "nobody")]

    result = simulate(jobs, Options(policy="fifo", quotas={"a": 8}, is_isolated=True))

    done = {o.job.job_id: o.finished_s for o in result.outcomes}
    assert done == {"one": 10, "two": 20, "lost": None}
    assert [(o.job.job_id, o.reason) for o in result.unscheduled] == [("lost", "team nobody has no cluster of its own")]


def test_a_job_larger_than_the_cluster_is_unscheduled_not_a_crash():
    result = simulate([Job("huge", 0, 10, 16, "a"), Job("ok", 0, 10, 1, "a")], Options(policy="fifo", gpus=8))

    assert [o.job.job_id for o in result.unscheduled] == ["huge"]
    assert result.unscheduled[0].reason == "a gang of 2 asks for 16 gpu but the matching nodes have 8"


def test_jains_index_is_one_for_equal_teams_and_one_over_n_when_one_gets_everything():
    assert metrics.jain([0.5, 0.5, 0.5]) == pytest.approx(1.0)
    assert metrics.jain([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert metrics.percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48)


@pytest.mark.skipif(DATA is None, reason="no shared data directory")
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_philly_sample_replays_on_isolated_and_shared_clusters(policy):
    jobs = load_trace(DATA / TRACE)
    teams = load_teams(DATA / "philly_vc_config.csv")

    isolated = simulate(jobs, Options(policy=policy, quotas=teams, is_isolated=True))
    shared = simulate(jobs, Options(policy=policy, gpus=2816, quotas=teams, is_borrowing=True))
    small = simulate(jobs, Options(policy=policy, gpus=64))

    assert len(jobs) == 526
    for result in (isolated, shared):
        assert [o.job.team for o in result.unscheduled] == ["925e2b"]  # not in the VC config
    assert small.summary["finished"] == 526 and small.summary["mean_queue_s"] > 0
    assert "mean JCT s" in table([isolated, shared, small])
