"""Replay a workload trace through the very same ``admit`` with a simulated clock.

Event driven: the clock jumps to the next submission or expected end; at each instant the
ended jobs release their GPUs, the submitted ones join the queue, and ``admit`` decides.
Preempted jobs go back to the queue keeping their place (submit time) with the time they still
have to run (as if they resumed from a checkpoint); the decision is then asked again at the
same instant, so the room they leave is given out at once. Estimates are the trace's true
durations (an oracle: sjf and srtf at their best).

The cluster is ``gpus / gpus_per_node`` nodes. Jobs ask for GPUs only. Placement
``whole_nodes``: a job that fits one node runs on one (the fullest that fits), a larger one on
whole free nodes; ``pack``: a job's GPUs are 1-GPU pods that may spread over nodes.
``isolated``: each team replays on a cluster of its own, sized by its quota (the Helios setup);
teams with no quota are reported as unscheduled.
"""
from __future__ import annotations

import csv
import heapq
import math
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import metrics, policies
from .admission import admit_holding
from .ledger import Ledger
from .types import Node, Request, Running, Snapshot, TeamQuota, Waiting

EPOCH = datetime(2017, 12, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Job:
    job_id: str
    submit_s: float
    duration_s: float
    gpus: int
    team: str


@dataclass(frozen=True)
class Options:
    policy: str = "fifo"
    gpus: int = 2816
    gpus_per_node: int = 8
    quotas: Mapping[str, int] | None = None  # team -> nominal GPUs; None: no quotas (each team may use all)
    is_borrowing: bool = False  # teams form one cohort and lend what they do not use
    placement: str = "whole_nodes"  # or "pack"
    is_strict: bool = False  # strict head-of-line blocking (else the policy's own rule)
    is_isolated: bool = False  # one cluster per team, sized by its quota
    head_of_line: str = ""  # "skip" or "reserve" instead of the policy's own rule ("" keeps it)


@dataclass
class Outcome:
    """One job's fate: when it was submitted, first started, finished; None if never."""

    job: Job
    first_started_s: float | None = None
    finished_s: float | None = None
    ran_s: float = 0.0
    preemptions: int = 0
    reason: str = ""


@dataclass
class Result:
    policy: str
    outcomes: list[Outcome]
    gpus: int
    wall_s: float
    decisions: int = 0
    summary: dict[str, float] = field(default_factory=dict)

    @property
    def unscheduled(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.finished_s is None]


# -- reading traces -----------------------------------------------------------------------------


def load_trace(path: str | Path) -> list[Job]:
    """Jobs from a CSV with columns submit_time_s, duration_s, num_gpus, team (job_id optional)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [Job(r.get("job_id") or f"job-{i}", float(r["submit_time_s"]), float(r["duration_s"]),
                int(r["num_gpus"]), r.get("team") or r.get("user") or "default")
            for i, r in enumerate(rows)]


def load_teams(path: str | Path) -> dict[str, int]:
    """Team -> nominal GPUs from a CSV with columns team, gpus."""
    with open(path, newline="") as f:
        return {r["team"]: int(r["gpus"]) for r in csv.DictReader(f)}


# -- replaying ----------------------------------------------------------------------------------


def simulate(jobs: Sequence[Job], options: Options) -> Result:
    """Replay ``jobs`` under ``options``; see the module docstring."""
    started = time.perf_counter()
    if options.is_isolated:
        result = _isolated(jobs, options)
    else:
        result = _Replay(jobs, options).run()
    result.wall_s = time.perf_counter() - started
    result.summary = summarise(result)
    return result


def _isolated(jobs: Sequence[Job], options: Options) -> Result:
    quotas = options.quotas or {}
    outcomes: list[Outcome] = []
    decisions = gpus = 0
    by_team: dict[str, list[Job]] = {}
    for j in jobs:
        by_team.setdefault(j.team, []).append(j)
    for team in sorted(by_team):
        if team not in quotas:
            outcomes += [Outcome(j, reason=f"team {team} has no cluster of its own") for j in by_team[team]]
            continue
        own = replace(options, is_isolated=False, gpus=quotas[team], quotas=None, is_borrowing=False)
        part = _Replay(by_team[team], own).run()
        outcomes += part.outcomes
        decisions += part.decisions
    gpus = sum(quotas.values())
    outcomes.sort(key=lambda o: (o.job.submit_s, o.job.job_id))
    return Result(options.policy, outcomes, gpus, 0.0, decisions)


class _Replay:
    def __init__(self, jobs: Sequence[Job], options: Options) -> None:
        self.options = options
        rule = "block" if options.is_strict else options.head_of_line
        self.policy = policies.get(options.policy, **({"head_of_line": rule} if rule else {}))
        gpn = options.gpus_per_node
        count = max(1, math.ceil(options.gpus / gpn)) if options.gpus > 0 else 0
        self.nodes = tuple(Node(f"n{i:04d}", cpu=0.0, memory_mb=0, gpu=min(gpn, options.gpus - i * gpn))
                           for i in range(count))
        self.total_gpus = sum(n.gpu for n in self.nodes)
        teams = sorted({j.team for j in jobs})
        if options.quotas is None:
            self.quotas = {t: TeamQuota(0.0, 0, self.total_gpus) for t in teams}
        else:
            cohort = "cluster" if options.is_borrowing else ""
            self.quotas = {t: TeamQuota(0.0, 0, g, cohort=cohort) for t, g in options.quotas.items()}
        self.ledger = Ledger.build(self.nodes, self.quotas)
        self.jobs = sorted(jobs, key=lambda j: (j.submit_s, j.job_id))
        self.outcomes = [Outcome(j) for j in self.jobs]
        self.waiting: dict[int, Waiting] = {}
        self.running: dict[int, Running] = {}
        self.ends: list[tuple[float, int, int]] = []  # (end, id, start generation)
        self.generation: dict[int, int] = {}
        self.started_s: dict[int, float] = {}
        self.decisions = 0

    def shape(self, job: Job) -> tuple[Request, int]:
        gpn = self.options.gpus_per_node
        if self.options.placement == "pack":
            return Request(0.0, 0, 1), max(1, job.gpus)
        if job.gpus <= gpn:
            return Request(0.0, 0, job.gpus), 1
        return Request(0.0, 0, gpn), math.ceil(job.gpus / gpn)

    def run(self) -> Result:
        n, i, t = len(self.jobs), 0, 0.0
        while i < n or self.ends:
            t_next = min(self.jobs[i].submit_s if i < n else math.inf, self.ends[0][0] if self.ends else math.inf)
            t = t_next
            while self.ends and self.ends[0][0] <= t:
                _, sid, gen = heapq.heappop(self.ends)
                if self.generation.get(sid) == gen and sid in self.running:
                    self.finish(sid, t)
            while i < n and self.jobs[i].submit_s <= t:
                self.submit(i, t)
                i += 1
            if self.waiting:
                self.decide(t)
        for sid, w in self.waiting.items():
            o = self.outcomes[sid]
            o.reason = o.reason or "never admitted"
        return Result(self.options.policy, self.outcomes, self.total_gpus, 0.0, self.decisions)

    def submit(self, sid: int, t: float) -> None:
        job = self.jobs[sid]
        request, gang = self.shape(job)
        self.waiting[sid] = Waiting(sid, job.team, request, EPOCH + timedelta(seconds=job.submit_s),
                                    estimate_s=job.duration_s, gang=gang, is_preemptible=True)

    def decide(self, t: float) -> None:
        now = EPOCH + timedelta(seconds=t)
        for _ in range(100):  # preemptions free room: ask again at the same instant
            snap = Snapshot(waiting=tuple(self.waiting.values()), running=tuple(self.running.values()),
                            quotas=self.quotas, nodes=self.nodes, ledger=self.ledger)
            d = admit_holding(snap, policy=self.policy, now=now)  # the ledger holds what it admitted...
            is_held = not d.preempted  # ...unless it preempted
            self.decisions += 1
            for sid, why in d.impossible.items():
                del self.waiting[sid]
                self.outcomes[sid].reason = why
            for sid in d.preempted:
                self.stop(sid, t)
            for a in d.placements:
                self.start(a.step_run_id, a.nodes, a.is_borrowed, t, is_held=is_held)
            if not d.preempted:
                return

    def start(self, sid: int, nodes: tuple[str, ...], is_borrowed: bool, t: float, *, is_held: bool) -> None:
        w = self.waiting.pop(sid)
        if not is_held:
            self.ledger.hold(w.team, w.request, [self.ledger.node_index[name] for name in nodes])
        self.running[sid] = Running(sid, w.team, w.request, nodes=nodes, gang=w.gang, is_preemptible=True,
                                    is_borrowed=is_borrowed, started_at=EPOCH + timedelta(seconds=t),
                                    estimate_s=w.estimate_s)
        o = self.outcomes[sid]
        if o.first_started_s is None:
            o.first_started_s = t
        self.started_s[sid] = t
        gen = self.generation.get(sid, 0) + 1
        self.generation[sid] = gen
        heapq.heappush(self.ends, (t + w.estimate_s, sid, gen))

    def stop(self, sid: int, t: float) -> None:
        r = self.running.pop(sid)
        self.ledger.release(r.team, r.request, [self.ledger.node_index[n] for n in r.nodes])
        ran = t - self.started_s.pop(sid)
        o = self.outcomes[sid]
        o.ran_s += ran
        o.preemptions += 1
        job = self.jobs[sid]
        self.waiting[sid] = Waiting(sid, r.team, r.request, EPOCH + timedelta(seconds=job.submit_s),
                                    estimate_s=max(0.0, r.estimate_s - ran), gang=r.gang, is_preemptible=True)

    def finish(self, sid: int, t: float) -> None:
        r = self.running.pop(sid)
        self.ledger.release(r.team, r.request, [self.ledger.node_index[n] for n in r.nodes])
        o = self.outcomes[sid]
        o.ran_s += t - self.started_s.pop(sid)
        o.finished_s = t


# -- summarising --------------------------------------------------------------------------------


def summarise(result: Result) -> dict[str, float]:
    """Mean and p95 completion time and queueing delay (finished jobs), GPU utilisation over the
    replay's span, Jain's index over teams' service ratios, jobs replayed per second."""
    done = [o for o in result.outcomes if o.finished_s is not None]
    jcts = [metrics.jct_s(o.job.submit_s, o.finished_s) for o in done]
    delays = [metrics.queueing_delay_s(j, o.ran_s) for o, j in zip(done, jcts)]
    busy = sum(o.ran_s * o.job.gpus for o in result.outcomes)
    span = (max(o.finished_s for o in done) - min(o.job.submit_s for o in result.outcomes)) if done else 0.0
    by_team: dict[str, list[tuple[float, float]]] = {}
    for o, j in zip(done, jcts):
        by_team.setdefault(o.job.team, []).append((o.ran_s, j))
    return {
        "jobs": float(len(result.outcomes)),
        "finished": float(len(done)),
        "unscheduled": float(len(result.outcomes) - len(done)),
        "mean_jct_s": metrics.mean(jcts),
        "p95_jct_s": metrics.percentile(jcts, 95),
        "mean_queue_s": metrics.mean(delays),
        "p95_queue_s": metrics.percentile(delays, 95),
        "gpu_utilisation": metrics.utilisation(busy, result.gpus, span),
        "jain": metrics.jain(metrics.service_ratios(by_team).values()),
        "preemptions": float(sum(o.preemptions for o in result.outcomes)),
        "jobs_per_s": len(result.outcomes) / result.wall_s if result.wall_s > 0 else math.inf,
    }


COLUMNS = (  # (summary key, heading, width, format)
    ("mean_jct_s", "mean JCT s", 11, "{:.0f}"), ("p95_jct_s", "p95 JCT s", 11, "{:.0f}"),
    ("mean_queue_s", "mean wait s", 11, "{:.0f}"), ("p95_queue_s", "p95 wait s", 11, "{:.0f}"),
    ("gpu_utilisation", "GPU use", 7, "{:.1%}"), ("jain", "Jain", 6, "{:.3f}"),
    ("preemptions", "preempt", 7, "{:.0f}"), ("unscheduled", "unsched", 7, "{:.0f}"), ("jobs_per_s", "jobs/s", 8, "{:.0f}"),
)


def table(results: Iterable[Result], *, label_width: int = 16) -> str:
    """The results as a fixed-width text table, one row per run."""
    lines = [f"{'policy':<{label_width}}" + "".join(f" {h:>{w}}" for _, h, w, _ in COLUMNS)]
    for r in results:
        lines.append(f"{r.policy:<{label_width}}" + "".join(f" {fmt.format(r.summary[k]):>{w}}" for k, _, w, fmt in COLUMNS))
    return "\n".join(lines)
