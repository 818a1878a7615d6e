"""Scheduling metrics over finished jobs, pure: completion time, queueing delay, utilisation and
Jain's fairness index. Times are seconds (floats) on any common clock."""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence


def jct_s(submitted_s: float, finished_s: float) -> float:
    """Job completion time: from submission to the end of its last run."""
    return finished_s - submitted_s


def queueing_delay_s(jct: float, ran_s: float) -> float:
    """Time spent waiting: completion time minus time running (waits after a preemption count)."""
    return max(0.0, jct - ran_s)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def utilisation(busy_s: float, capacity: float, span_s: float) -> float:
    """Share of capacity in use over a span: ``busy_s`` resource-seconds used of
    ``capacity * span_s`` available (0 when there was nothing to use)."""
    available = capacity * span_s
    return busy_s / available if available > 0 else 0.0


def jain(values: Iterable[float]) -> float:
    """Jain's fairness index: (sum x)^2 / (n * sum x^2); 1 when all are equal, 1/n when one
    gets everything.

    >>> jain([1, 1, 1, 1]), jain([1, 0, 0, 0])
    (1.0, 0.25)
    """
    xs = [x for x in values if not math.isnan(x)]
    if not xs:
        return math.nan
    squares = sum(x * x for x in xs)
    return (sum(xs) ** 2) / (len(xs) * squares) if squares > 0 else 1.0


def service_ratios(by_team: Mapping[str, Sequence[tuple[float, float]]]) -> dict[str, float]:
    """Per team, the mean of (run time / completion time) of its jobs: 1 when its jobs never wait.
    Jain's index over these says how evenly waiting is spread over teams."""
    return {team: mean([ran / jct if jct > 0 else 1.0 for ran, jct in jobs]) for team, jobs in by_team.items() if jobs}
