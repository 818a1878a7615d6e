"""How well the scheduler serves the teams, read from the database (for the API and Prometheus).

- queueing delay: per admission within the window, from the moment the step run last entered
  the queue (it became ready, came back from a preemption, or its retry backoff ended) to that
  admission. A step run keeps its first ``queued_at`` across retries and preemptions (its place
  in line), so that is not the start: the time it spent running before would count as waiting;
- completion time: from a run's creation to its end, for runs that ended within the window;
- utilisation: what admitted, running and still-stopping (preempted) step runs hold now, per
  resource and GPU class, against the capacity the executor reports;
- fairness: Jain's index over the teams' service ratios. A team's service ratio is the share of
  the time its step runs were ready within the window (from first queued to their end, or now)
  that they spent running: 1 when nothing of it waited, 0 when it was starved all along. Work
  still waiting counts, so a team that gets nothing is seen (equal service gives 1, one team of
  n served and the others starved gives 1/n). The simulator's index is the per-job mean of the
  same ratio over finished jobs; here it is weighted by time, so a step that has just been
  queued does not count as much as one that has waited for an hour.

Means, percentiles and the index are ``core.metrics``'s, as in the simulator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Mapping, Sequence

from django.db.models import Count, Q

from pipelines import states
from pipelines.models import Run, StepRun, StepRunEvent

from .core import metrics as core_metrics
from .core.types import Capacity
from .models import Team

RESOURCES = ("cpu", "memory_mb", "gpu")


@dataclass(frozen=True)
class Distribution:
    """Durations in seconds: how many, their sum, mean, median and 95th percentile (None: none)."""

    count: int
    sum_s: float
    mean_s: float | None
    p50_s: float | None
    p95_s: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> "Distribution":
        if not values:
            return cls(0, 0.0, None, None, None)
        return cls(len(values), float(sum(values)), core_metrics.mean(values), core_metrics.percentile(values, 50),
                   core_metrics.percentile(values, 95))


@dataclass(frozen=True)
class ResourceUse:
    """What is held of a resource (``cpu``, ``memory_mb``, ``gpu`` or ``gpu/<class>``) against the
    capacity (None: the executor does not say, e.g. GPU classes of a cluster known by totals)."""

    resource: str
    held: float
    capacity: float | None

    @property
    def utilisation(self) -> float | None:
        if not self.capacity:
            return None
        return self.held / self.capacity


@dataclass(frozen=True)
class TeamMetrics:
    team: str
    queueing_delay: Distribution
    completion_time: Distribution
    held: Mapping[str, float]  # resource key -> held now
    service_ratio: float | None  # share of its step runs' ready time in the window spent running (1: never waited)
    step_runs: Mapping[str, int]  # status -> step runs not final (pending, queued, admitted, running, preempted)


@dataclass(frozen=True)
class Metrics:
    as_of: datetime
    window_s: float
    queueing_delay: Distribution  # over the teams shown
    completion_time: Distribution  # over the teams shown
    teams: tuple[TeamMetrics, ...]
    utilisation: tuple[ResourceUse, ...]  # the whole cluster
    jain: float | None  # over every team with step runs ready in the window
    fairness_teams: int  # how many teams the index is over


def collect(*, capacity: Capacity, now: datetime, window_s: float, teams: Iterable[str] | None = None) -> Metrics:
    """The metrics as of ``now`` over the last ``window_s`` seconds. ``teams``: the teams to show
    (None: all); utilisation and fairness are the whole cluster's either way."""
    names = sorted(teams) if teams is not None else list(Team.objects.order_by("name").values_list("name", flat=True))
    since = now - timedelta(seconds=window_s)
    delays = queueing_delays(since, now)
    completions = completion_times(since, now)
    held = held_by_team(capacity)
    counts = active_counts()
    ratios = service_ratios(since, now)
    shown = set(names)
    per_team = tuple(
        TeamMetrics(team=t, queueing_delay=Distribution.of(delays.get(t, [])),
                    completion_time=Distribution.of(completions.get(t, [])), held=held.get(t, {}),
                    service_ratio=ratios.get(t), step_runs=counts.get(t, {}))
        for t in names
    )
    jain = core_metrics.jain(ratios.values())
    return Metrics(
        as_of=now, window_s=window_s,
        queueing_delay=Distribution.of([d for t, ds in delays.items() if t in shown for d in ds]),
        completion_time=Distribution.of([d for t, ds in completions.items() if t in shown for d in ds]),
        teams=per_team, utilisation=utilisation(held, capacity),
        jain=None if math.isnan(jain) else jain, fairness_teams=len(ratios),
    )


def queueing_delays(since: datetime, now: datetime) -> dict[str, list[float]]:
    """Team -> seconds each admission in (since, now] waited: from the step run's latest entry
    into the queue before it (or the end of its retry backoff, ``ready_at``) to the admission."""
    candidates = StepRun.objects.filter(admitted_at__gt=since)  # a later admission leaves admitted_at later still
    rows = {pk: (team, ready_at) for pk, team, ready_at in candidates.values_list("pk", "team__name", "ready_at")}
    out: dict[str, list[float]] = {}
    entered: dict[int, datetime] = {}
    events = (StepRunEvent.objects.filter(step_run_id__in=candidates.values("pk"),
                                          to_status__in=(states.QUEUED, states.ADMITTED))
              .order_by("step_run_id", "seq").values_list("step_run_id", "to_status", "at"))
    for step_run_id, to_status, at in events:
        if to_status == states.QUEUED:
            entered[step_run_id] = at
            continue
        start = entered.pop(step_run_id, None)
        if start is None or not since < at <= now:
            continue
        if step_run_id not in rows:  # admitted after the step runs were read: the next read counts it
            continue
        team, ready_at = rows[step_run_id]
        if ready_at is not None and start < ready_at <= at:  # waited out a retry's backoff first
            start = ready_at
        out.setdefault(team, []).append(max(0.0, (at - start).total_seconds()))
    return out


def completion_times(since: datetime, now: datetime) -> dict[str, list[float]]:
    """Team -> seconds from creation to end, of the runs that ended in (since, now]."""
    out: dict[str, list[float]] = {}
    rows = Run.objects.filter(status__in=states.RUN_FINAL, finished_at__gt=since, finished_at__lte=now)
    for team, created_at, finished_at in rows.values_list("team__name", "created_at", "finished_at"):
        out.setdefault(team, []).append(max(0.0, (finished_at - created_at).total_seconds()))
    return out


def service_ratios(since: datetime, now: datetime) -> dict[str, float]:
    """Team -> the share of its step runs' ready time within (since, now] that they spent
    running, over the step runs ready at some time in the window: queued since ``queued_at``
    (their first time) until they ended, or until now when still in flight."""
    ready = (StepRun.objects.filter(queued_at__isnull=False, queued_at__lt=now)
             .filter(~Q(status__in=states.STEP_FINAL) | Q(finished_at__gt=since)))
    spans: dict[int, tuple[str, datetime, datetime]] = {}
    for pk, team, status, queued_at, finished_at in ready.values_list("pk", "team__name", "status", "queued_at",
                                                                       "finished_at"):
        end = finished_at if status in states.STEP_FINAL and finished_at is not None else now
        spans[pk] = (team, max(queued_at, since), min(end, now))
    running: dict[int, float] = {}
    started: dict[int, datetime] = {}
    events = (StepRunEvent.objects.filter(step_run_id__in=ready.values("pk"))
              .filter(Q(to_status=states.RUNNING) | Q(from_status=states.RUNNING))
              .order_by("step_run_id", "seq").values_list("step_run_id", "to_status", "at"))
    for step_run_id, to_status, at in events:
        if to_status == states.RUNNING:
            started[step_run_id] = at
        elif step_run_id in started:
            running[step_run_id] = running.get(step_run_id, 0.0) + _within(started.pop(step_run_id), at, since, now)
    for step_run_id, at in started.items():  # still running
        running[step_run_id] = running.get(step_run_id, 0.0) + _within(at, now, since, now)
    ran: dict[str, float] = {}
    waited_or_ran: dict[str, float] = {}
    for step_run_id, (team, start, end) in spans.items():
        ready_s = max(0.0, (end - start).total_seconds())
        ran[team] = ran.get(team, 0.0) + min(ready_s, running.get(step_run_id, 0.0))
        waited_or_ran[team] = waited_or_ran.get(team, 0.0) + ready_s
    return {team: ran[team] / total if total > 0 else 1.0 for team, total in waited_or_ran.items()}


def _within(start: datetime, end: datetime, since: datetime, now: datetime) -> float:
    """Seconds of [start, end] inside [since, now]."""
    return max(0.0, (min(end, now) - max(start, since)).total_seconds())


def held_by_team(capacity: Capacity) -> dict[str, dict[str, float]]:
    """Team -> resource key -> what its admitted, running and stopping step runs hold now. A GPU
    step counts against its class: the class of the node it runs on, else the class it asked."""
    node_class = {n.name: n.gpu_class for n in capacity.nodes}
    out: dict[str, dict[str, float]] = {}
    rows = StepRun.objects.filter(status__in=states.STEP_HOLDING)
    for team, cpu, memory_mb, gpu, gpu_class, gang, node in rows.values_list(
            "team__name", "cpu", "memory_mb", "gpu", "gpu_class", "gang", "node"):
        held = out.setdefault(team, dict.fromkeys(RESOURCES, 0.0))
        held["cpu"] += cpu * gang
        held["memory_mb"] += memory_mb * gang
        held["gpu"] += gpu * gang
        cls = node_class.get((node or "").split(",")[0]) or gpu_class
        if gpu and cls:
            held[f"gpu/{cls}"] = held.get(f"gpu/{cls}", 0.0) + gpu * gang
    return out


def utilisation(held: Mapping[str, Mapping[str, float]], capacity: Capacity) -> tuple[ResourceUse, ...]:
    """Per resource, and per GPU class held or present, the cluster's use against its capacity."""
    totals: dict[str, float] = {}
    for team_held in held.values():
        for key, value in team_held.items():
            totals[key] = totals.get(key, 0.0) + value
    class_capacity: dict[str, float] = {}
    for n in capacity.nodes:
        if n.gpu_class and n.gpu:
            class_capacity[f"gpu/{n.gpu_class}"] = class_capacity.get(f"gpu/{n.gpu_class}", 0.0) + n.gpu
    out = [ResourceUse(key, totals.get(key, 0.0), float(getattr(capacity, key))) for key in RESOURCES]
    for key in sorted(set(class_capacity) | {k for k in totals if k.startswith("gpu/")}):
        out.append(ResourceUse(key, totals.get(key, 0.0), class_capacity.get(key)))
    return tuple(out)


def active_counts() -> dict[str, dict[str, int]]:
    """Team -> status -> how many of its step runs are in that (not final) status."""
    out: dict[str, dict[str, int]] = {}
    rows = (StepRun.objects.exclude(status__in=states.STEP_FINAL).order_by().values("team__name", "status")
            .annotate(n=Count("id")).values_list("team__name", "status", "n"))
    for team, status, n in rows:
        out.setdefault(team, {})[status] = n
    return out
