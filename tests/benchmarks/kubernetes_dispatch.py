"""Kubernetes mode, end to end against the fake cluster: 1,000 step runs through dispatch -> Job
create -> simulated completion -> watcher transition -> next dispatch, in two shapes: 4 runs of
250-step chains (latency: a few chains at once) and 40 runs of 25-step chains (throughput: the
dispatcher and watcher saturated, so the delay is mostly waiting in line). The real Celery worker and the real watcher run as processes with
TRELLIS_EXECUTOR=kubernetes; the fake cluster (tests/fakes/kube.py) runs here and is spoken to
over HTTP by the real client.

Printed: Jobs created per second; the delay from a Job's completion (the fake's status update to
Complete) to the creation of its dependent's Job, median and p99, split into three parts: the
watcher seeing it (completion -> the watcher starts recording it), the hand-over (-> the
dispatch task that admits the dependent starts: the watcher's transaction, the request through
Redis, waiting for the worker) and the dispatch itself (-> the dependent's Job created). The
parts' times are the ones the watcher and the dispatcher record (``finished_at``,
``admitted_at``). Target: p99 under 100 ms from completion to the next Job.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from contextlib import contextmanager

SHAPES = [(4, 250), (40, 25)]  # (runs at once, steps per chain): 1,000 step runs each
if os.environ.get("TRELLIS_BENCH_RUNS"):  # one shape of one's own, e.g. a single chain
    SHAPES = [(int(os.environ["TRELLIS_BENCH_RUNS"]), int(os.environ.get("TRELLIS_BENCH_CHAIN", "25")))]
TARGET_MS = 100.0


def chain_spec(length: int) -> dict:
    return {"steps": [{"name": f"s{i:02d}", "type": "custom", "image": "busybox:1.36", "command": ["true"],
                       "depends_on": [f"s{i - 1:02d}"] if i else [], "resources": {"cpu": 0.1, "memory_mb": 64}}
                      for i in range(length)]}


class Clock:
    """When each Job was created and completed, by name, as the fake's store changes (wall clock,
    to compare with the database's timestamps; taken under the store's lock)."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, change) -> None:
        if change.resource.plural != "jobs":
            return
        name, now = change.obj["metadata"]["name"], time.time()
        with self.lock:
            if change.type == "ADDED":
                self.created.setdefault(name, now)
            elif change.type == "MODIFIED" and name not in self.completed and any(
                    c.get("type") == "Complete" for c in change.obj["status"].get("conditions") or ()):
                self.completed[name] = now


def main() -> None:
    from tests.fakes.kube import FakeCluster, Outcome, node

    with FakeCluster(nodes=[node("node-1", cpu="512", memory="2Ti")], default=Outcome.succeed()) as cluster:
        clock = Clock()
        cluster.store.on_change.append(clock)
        os.environ.update({"TRELLIS_EXECUTOR": "kubernetes", "TRELLIS_K8S_API_HOST": cluster.host,
                           "TRELLIS_K8S_TTL_AFTER_FINISHED_S": "2", "TRELLIS_K8S_PENDING_TIMEOUT_S": "60"})
        from .environment import trellis_environment

        with _database() as database_url, trellis_environment("worker", "watcher", database_url=database_url) as stack:
            for runs, chain in SHAPES:
                print(f"\ndatabase: {'PostgreSQL' if database_url else 'SQLite'}; {os.cpu_count()} CPUs; "
                      f"load average {os.getloadavg()[0]:.1f} before")
                _measure(cluster, clock, stack, runs=runs, chain=chain)


@contextmanager
def _database():
    """SQLite (the laptop default), or with TRELLIS_BENCH_DB=postgres a PostgreSQL 15 started
    here as the test harness does (production's database)."""
    if os.environ.get("TRELLIS_BENCH_DB") != "postgres":
        yield None
        return
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.harness import _as_postgres, start_postgres

    base = Path(tempfile.mkdtemp(prefix="trellis-bench-pg-"))
    base.chmod(0o755)
    stop, url = start_postgres(base)
    try:
        port = url.rsplit(":", 1)[1].split("/")[0]
        subprocess.run(_as_postgres(["createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "trellis"]),
                       check=True)
        yield url
    finally:
        stop()
        shutil.rmtree(base, ignore_errors=True)


def _measure(cluster, clock: Clock, stack, *, runs: int, chain: int) -> None:
    from django.utils import timezone

    from pipelines import services
    from pipelines.models import Run, StepRun
    from scheduling.models import Quota, Team

    team, _ = Team.objects.get_or_create(name="bench")
    Quota.objects.get_or_create(team=team, defaults=dict(cpu=10_000, memory_mb=10**8, gpu=0))
    pipeline = services.create_pipeline(team=team, name=f"chain-{chain}", spec=chain_spec(chain), user=None)
    if not Run.objects.exists():
        services.submit_run(pipeline, user=None, now=timezone.now())  # warm-up: connections, caches, imports
        _wait_for_runs(Run, 1)
    done_before = Run.objects.count()
    cpu_before = _cpu_s(stack)
    requests_before, started = cluster.requests, time.time()
    run_ids = [services.submit_run(pipeline, user=None, now=timezone.now()).pk for _ in range(runs)]
    _wait_for_runs(Run, done_before + runs)
    elapsed = time.time() - started
    cpu = {name: used - cpu_before[name] for name, used in _cpu_s(stack).items()}
    failed = Run.objects.filter(pk__in=run_ids).exclude(status="succeeded").count()

    names = {(sr["run_id"], sr["step_name"]): sr for sr in StepRun.objects.filter(run_id__in=run_ids).values(
        "run_id", "step_name", "handle", "finished_at", "admitted_at")}
    total, watcher, handover, dispatcher = [], [], [], []
    for run_id in run_ids:
        for i in range(1, chain):
            before, after = names[(run_id, f"s{i - 1:02d}")], names[(run_id, f"s{i:02d}")]
            completed, created = clock.completed.get(before["handle"]), clock.created.get(after["handle"])
            if completed is None or created is None:
                continue
            recorded, admitted = before["finished_at"].timestamp(), after["admitted_at"].timestamp()
            total.append((created - completed) * 1000)
            watcher.append((recorded - completed) * 1000)
            handover.append((admitted - recorded) * 1000)
            dispatcher.append((created - admitted) * 1000)
    jobs = [clock.created[sr["handle"]] for sr in names.values() if sr["handle"] in clock.created]

    print(f"{runs} runs x {chain}-step chains = {len(names)} step runs, {len(jobs)} Jobs created "
          f"({failed} runs not succeeded), {elapsed:.1f} s, {cluster.requests - requests_before} API requests")
    print("CPU seconds: " + ", ".join(f"{name} {used:.1f}" for name, used in cpu.items())
          + f" (of {elapsed * (os.cpu_count() or 1):.0f} the machine had)")
    print(f"Jobs created per second: {len(jobs) / (max(jobs) - min(jobs)):.0f}")
    print(f"{'completion -> dependent Job created (ms)':<44} {'median':>8} {'p99':>8} {'max':>8}")
    for label, values in (("total", total), ("  watcher: completion -> recording starts", watcher),
                          ("  hand-over: -> the dispatch task starts", handover),
                          ("  dispatch: -> the next Job created", dispatcher)):
        print(f"{label:<44} {statistics.median(values):>8.1f} {_p99(values):>8.1f} {max(values):>8.1f}")
    p99 = _p99(total)
    print(f"\np99 completion -> next Job: {p99:.1f} ms; target {TARGET_MS:.0f} ms ({p99 / TARGET_MS:.2f}x target)")


def _cpu_s(stack) -> dict[str, float]:
    """CPU time used so far by the worker, the watcher and this process (the fake cluster)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, proc in stack.procs.items():
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    times = os.times()
    used["fake cluster (this process)"] = times.user + times.system
    return used


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _wait_for_runs(Run, count: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while Run.objects.filter(status__in=("succeeded", "failed", "cancelled")).count() < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} runs finished within {timeout_s:g} s")
        time.sleep(0.1)
