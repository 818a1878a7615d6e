"""How long ``scheduling.snapshot.load`` takes to read a large queue from SQLite (no assertions).

10,000 queued step runs of 100 teams (500 pipelines of 20 steps), 1,000 running, and 20,000
successes of the last day (SJF history and fair-share usage). Printed: median and p95 ms of a
load with and without the decayed usage (only fair share reads it), and the queries it made.
"""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

TEAMS, PIPELINES, STEPS, RUNNING, HISTORY = 100, 500, 20, 1000, 20000
REPEATS = 20


def main() -> None:
    from .environment import trellis_environment

    with trellis_environment():
        _measure()


def _arrange(now):
    from pipelines import services, states
    from pipelines.models import Run, StepRun
    from scheduling.models import Quota, Team

    teams = Team.objects.bulk_create(Team(name=f"team-{i}") for i in range(TEAMS))
    Quota.objects.bulk_create(Quota(team=t, cpu=100, memory_mb=10**6, gpu=8) for t in teams)
    spec = {"steps": [{"name": f"s{i}", "command": ["true"], "estimate_s": 60 * (i + 1)} for i in range(STEPS)]}
    runs = []
    for i in range(PIPELINES):
        pipe = services.create_pipeline(team=teams[i % TEAMS], name=f"p{i}", spec=spec, user=None)
        version = pipe.latest_version
        runs.append(Run(pipeline=pipe, version=version, team=pipe.team, spec=version.spec))
    runs = Run.objects.bulk_create(runs)
    rows = []
    for run in runs:  # the queue
        rows += [StepRun(run=run, team_id=run.team_id, step_name=f"s{i}", status=states.QUEUED,
                         queued_at=now - timedelta(seconds=i)) for i in range(STEPS)]
    past = Run.objects.bulk_create(Run(pipeline=r.pipeline, version=r.version, team_id=r.team_id, spec=r.spec,
                                       status="succeeded") for r in runs for _ in range(HISTORY // PIPELINES // STEPS))
    for k, run in enumerate(past):  # the history: every step succeeded once per past run
        end = now - timedelta(minutes=k % 1440)
        rows += [StepRun(run=run, team_id=run.team_id, step_name=f"s{i}", status=states.SUCCEEDED, queued_at=end,
                         started_at=end - timedelta(seconds=30 + i), finished_at=end) for i in range(STEPS)]
    StepRun.objects.bulk_create(rows, batch_size=2000)
    running = StepRun.objects.filter(status=states.QUEUED).order_by("id")[:RUNNING].values_list("id", flat=True)
    StepRun.objects.filter(pk__in=list(running)).update(status=states.RUNNING, started_at=now)


def _measure() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from pipelines.models import StepRun
    from scheduling import snapshot
    from scheduling.core.types import Capacity

    now = timezone.now()
    _arrange(now)
    capacity = Capacity(cpu=10_000, memory_mb=10**8, gpu=800)
    for with_usage in (False, True):
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            snap = snapshot.load(capacity=capacity, now=now, half_life_s=3600, with_usage=with_usage)
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            snapshot.load(capacity=capacity, now=now, half_life_s=3600, with_usage=with_usage)
        times.sort()
        print(f"snapshot.load, {len(snap.waiting)} queued, {len(snap.running)} running, "
              f"{StepRun.objects.filter(status='succeeded').count()} in history, usage {'on' if with_usage else 'off'}: "
              f"median {statistics.median(times):.1f} ms, p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, "
              f"{len(queries)} queries")


if __name__ == "__main__":
    main()
