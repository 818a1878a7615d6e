"""Policies: the order in which waiting step runs are considered, and what each may do beyond.

A policy is a ``Policy``: an ordering ``(waiting, snapshot, now, ledger) -> iterable of Waiting``
(the ledger is the decision's live accounting, which only fair share reads, so that it re-ranks
teams as their steps are admitted), plus how a step that does not fit affects the ones behind it
(``head_of_line``) and which running steps it may preempt (``may_preempt``). Every ordering ends
in (submit time, step run id), so ties break the same way whatever the input order.

``head_of_line``: ``skip`` (a step that does not fit holds nobody back), ``block`` (strict: the
first step the cluster cannot hold blocks every later one; one its team's quota cannot hold
blocks its team's later ones) or ``reserve`` (EASY backfill: the first step the cluster cannot
hold gets a reservation at the time enough running work is expected to end; a later step may
start only if it is expected to end by then or fits in what the reservation leaves over).
"""
from __future__ import annotations

import heapq
import math
from operator import attrgetter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Iterable, Iterator, Sequence

from .ledger import Ledger
from .types import Running, Snapshot, Waiting

Order = Callable[[Sequence[Waiting], Snapshot, datetime, "Policy", Ledger], Iterable[Waiting]]


@dataclass(frozen=True)
class Policy:
    name: str
    order: Order
    head_of_line: str = "skip"  # skip | block | reserve
    preemption: str = ""  # "" | priority | remaining
    ageing_per_hour: float = 1.0  # priority points a step gains per hour waited
    half_life_s: float = 24 * 3600.0  # fair share: how fast past usage is forgotten

    def may_preempt(self, w: Waiting, r: Running, now: datetime) -> str | None:
        """Why ``w`` may preempt ``r`` under this policy (None: it may not). Reclaiming borrowed
        quota is not a policy matter: admission does it under every policy."""
        if not self.preempts(w, r, now):
            return None
        if self.preemption == "priority":
            return f"preempted for step run {w.step_run_id} of higher priority ({w.priority} > {r.priority})"
        return (f"preempted for step run {w.step_run_id}, which has less time to run "
                f"({w.estimate_s:g} s < {remaining_s(r, now):g} s)")

    def preempts(self, w: Waiting, r: Running, now: datetime) -> bool:
        """Whether ``w`` may preempt ``r`` (``may_preempt`` without the words)."""
        if not r.is_preemptible or r.is_stopping or not (r.team == w.team or r.is_borrowed):
            return False
        if self.preemption == "priority":
            return r.priority < w.priority
        if self.preemption == "remaining":
            return w.estimate_s is not None and remaining_s(r, now) > w.estimate_s
        return False


def remaining_s(r: Running, now: datetime) -> float:
    """Expected time left of a running step (infinite when it has no estimate)."""
    if r.estimate_s is None:
        return math.inf
    ran = (now - r.started_at).total_seconds() if r.started_at is not None else 0.0
    return max(0.0, r.estimate_s - ran)


def _line(w: Waiting) -> tuple:
    return (w.submitted_at, w.step_run_id)


_ID, _SUBMITTED = attrgetter("step_run_id"), attrgetter("submitted_at")


def in_line(waiting: Sequence[Waiting]) -> list[Waiting]:
    """Sorted by ``_line``: two stable sorts, by id and then by submit time, which compare
    plain values instead of tuples (about twice as fast)."""
    if len(waiting) < 2:
        return list(waiting)
    return sorted(sorted(waiting, key=_ID), key=_SUBMITTED)


def by_submit_time(waiting, snap, now, policy, ledger) -> list[Waiting]:
    """fifo: by the time a step became ready (kept across preemption), then by step run id."""
    return in_line(waiting)


def by_estimate(waiting, snap, now, policy, ledger) -> list[Waiting]:
    """sjf and srtf: by estimated (remaining) run time, shortest first; steps without an
    estimate after all others; then by submit time, then by id."""
    inf = math.inf
    line = in_line(waiting)  # stable sorts: by line, then by estimate (cheaper than tuple keys)
    return _by_keys(line, [inf if w.estimate_s is None else w.estimate_s for w in line])


def by_aged_priority(waiting, snap, now, policy, ledger) -> list[Waiting]:
    """priority and resource_aware: by priority plus ``ageing_per_hour`` for every hour waited,
    highest first (so nothing starves), then by submit time, then by id."""
    rate = policy.ageing_per_hour / 3600.0
    # one sort: aged priorities seldom tie, so the submit times and ids behind them are seldom compared
    return _by_keys(list(waiting), [
        (-(w.priority + rate * (s if (s := (now - w.submitted_at).total_seconds()) > 0.0 else 0.0)), w.submitted_at,
         w.step_run_id) for w in waiting])


def _by_keys(line: list[Waiting], keys: list) -> list[Waiting]:
    """``line`` sorted (stably) by ``keys``, worked out beforehand: no Python call per step."""
    if len(line) < 2:
        return line
    return [line[i] for i in sorted(range(len(line)), key=keys.__getitem__)]


def by_fair_share(waiting, snap, now, policy, ledger: Ledger) -> Iterator[Waiting]:
    """fair_share: the team with the lowest weighted dominant share goes next, re-ranked after
    each of its steps is considered; inside a team, by submit time, then by id; ties between
    teams by team name.

    A team's share of a resource is (what it holds now + its past usage decayed over
    ``half_life_s`` and spread over one half-life) / the cluster's total; its dominant share is
    the largest of these over cpu, memory and gpu, divided by its weight (the quota's weight,
    else its nominal quota's dominant share of the cluster).
    """
    if len({w.team for w in waiting}) <= 1:  # one team: its own line is the order
        yield from in_line(waiting)
        return
    totals = ledger.fixed.get("totals")
    if totals is None:
        totals = ledger.fixed["totals"] = [sum(p.total[k] for p in ledger.pools) or 1.0 for k in range(3)]
    weights = ledger.fixed.get("weights")
    if weights is None or weights[0] is not snap.quotas:
        weights = ledger.fixed["weights"] = (snap.quotas, {})
    weights = weights[1]  # team -> weight, for these quotas and nodes
    queues: dict[str, list[Waiting]] = {}
    for w in in_line(waiting):
        queues.setdefault(w.team, []).append(w)
    past: dict[str, tuple[float, float, float]] = {}
    for team in queues:
        u = snap.usage.get(team)
        if u is None:
            past[team] = (0.0, 0.0, 0.0)
            continue
        age = (now - u.as_of).total_seconds() if u.as_of is not None else 0.0
        f = 0.5 ** (max(0.0, age) / policy.half_life_s) / policy.half_life_s
        past[team] = (u.cpu_s * f, u.memory_mb_s * f, u.gpu_s * f)
    for t in queues:
        if t not in weights:
            weights[t] = _weight(snap, t, totals)

    shares: dict[str, tuple[int, float]] = {}  # team -> (its ledger version, share): re-ranked only when it changed

    def share(team: str) -> float:
        version = ledger.team_version.get(team, 0)
        known = shares.get(team)
        if known is not None and known[0] == version:
            return known[1]
        used = ledger.team_used.get(team, {})
        now_held = (used.get("cpu", 0.0), used.get("memory_mb", 0.0), used.get("gpu", 0.0))
        value = max((now_held[k] + past[team][k]) / totals[k] for k in range(3)) / weights[team]
        shares[team] = (version, value)
        return value

    heap = [(share(t), t) for t in queues]
    heapq.heapify(heap)
    nxt = dict.fromkeys(queues, 0)
    while heap:
        value, team = heapq.heappop(heap)
        q, k = queues[team], nxt[team]
        while True:  # the team's steps while it stays first (no heap work meanwhile)
            yield q[k]
            k += 1
            if k == len(q):
                break
            known = shares[team]
            value = known[1] if known[0] == ledger.team_version.get(team, 0) else share(team)
            if heap and heap[0] < (value, team):  # another team goes first: this one waits its turn
                heapq.heappush(heap, (value, team))
                break
        nxt[team] = k


def _weight(snap: Snapshot, team: str, totals: list[float]) -> float:
    q = snap.quotas.get(team)
    if q is None:
        return 1.0
    if q.weight is not None:
        return max(q.weight, 1e-9)
    nominal = (q.cpu, q.memory_mb, q.gpu)
    return max(max(nominal[k] / totals[k] for k in range(3)), 1e-9)


POLICIES: dict[str, Policy] = {
    "fifo": Policy("fifo", by_submit_time),
    "sjf": Policy("sjf", by_estimate),
    "srtf": Policy("srtf", by_estimate, preemption="remaining"),
    "priority": Policy("priority", by_aged_priority, preemption="priority"),
    "fair_share": Policy("fair_share", by_fair_share),
    "resource_aware": Policy("resource_aware", by_aged_priority, head_of_line="reserve", preemption="priority"),
}


def get(name: str | Policy, **options) -> Policy:
    """A policy by name with options changed: ``get("fifo", head_of_line="block")`` is strict
    head-of-line FIFO; ``get("fair_share", half_life_s=3600)``."""
    policy = name if isinstance(name, Policy) else POLICIES[name]
    return replace(policy, **options) if options else policy
