"""admit(): which waiting step runs to start now, where, what to preempt, and why others wait."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from . import placement, policies
from .ledger import Ledger, asks_of
from .policies import Policy, remaining_s
from .quota import team_never, team_shortfall
from .types import Admission, Decision, Running, Snapshot, Waiting

MAX_PREEMPTION_TRIES = 64  # per decision: a what-if costs a pass over the running steps


@dataclass
class Fit:
    nodes: list[int]
    is_borrowed: bool


@dataclass
class Miss:
    reason: str
    kind: str  # "team": its team's quota; "cluster": the nodes


def admit(snap: Snapshot, *, policy: str | Policy, now: datetime) -> Decision:
    """Admit, in policy order, every waiting step run that fits; say why each other one waits.

    For each step run in the order the policy gives (see ``policies``):

    1. its team needs a quota, and the step must be able to fit at all: on some node (or, for a
       gang, on the matching nodes together) and within its team's quota plus what it may
       borrow; if it never can, it is ``impossible`` and the caller fails it;
    2. it waits out its retry backoff, then any pipeline it must not run beside;
    3. under strict head of line, it waits behind the first step that did not fit;
    4. it fits when its team can take it (nominal quota, else borrowing in the cohort) and all
       its pods find a node by best fit (``placement``); under ``reserve`` it must also not
       delay the reserved step (EASY backfill);
    5. if it does not fit, running work may make room: borrowed work of teams above their
       nominal quota when its own team is within nominal (reclaim, under every policy), or what
       the policy may preempt. The fewest victims are chosen; the step then waits for them to
       stop with the room held for it, so later steps cannot take it.

    Nothing here reads a clock: ``now`` decides backoff, ageing and expected end times.
    """
    pol = policies.get(policy)
    if snap.ledger is None:
        return _Round(snap, pol, now, None).decide()
    with snap.ledger.trying() as ledger:  # every change undone on the way out
        return _Round(snap, pol, now, ledger).decide()


class _Round:
    """One decision's working state: a private ledger and what has been decided so far."""

    def __init__(self, snap: Snapshot, pol: Policy, now: datetime, ledger: Ledger | None) -> None:
        self.snap, self.pol, self.now = snap, pol, now
        self.held_idx: dict[int, tuple[int, ...]] = {}
        if ledger is None:
            ledger = Ledger.build(snap.cluster_nodes(), snap.quotas)
            for r in sorted(snap.running, key=lambda r: r.step_run_id):
                self.held_idx[r.step_run_id] = ledger.hold_running(r)
        self.ledger = ledger
        self.admitted: list[int] = []
        self.placements: list[Admission] = []
        self.blocked: dict[int, str] = {}
        self.impossible: dict[int, str] = {}
        self.preempted: dict[int, str] = {}
        self.order: list[int] = []
        self.pools_cache: dict = ledger.fixed.setdefault("pools", {})
        self.never_cache: dict = ledger.fixed.setdefault("never", {})
        self.miss_cache: dict[tuple, tuple[int, Miss]] = {}  # pod shape -> (releases, refusal)
        self.preempt_tries = 0
        self.no_room: dict[tuple, int] = {}  # asks that found no victims, at which ledger version
        self.victims: dict[str, list[Running]] | None = None
        self.borrowed: list[Running] = []
        self.blocking_all: int | None = None  # strict head of line: the step everyone waits behind
        self.blocking_team: dict[str, int] = {}
        self.reservation: _Reservation | None = None
        self.is_reserved = False
        self.admitted_ends: list[tuple[float, list[int], Waiting]] = []

    def decide(self) -> Decision:
        for w in self.pol.order(self.snap.waiting, self.snap, self.now, self.pol, self.ledger):
            self.order.append(w.step_run_id)
            self.consider(w)
        return Decision(policy=self.pol.name, admitted=tuple(self.admitted), blocked=self.blocked,
                        impossible=self.impossible, preempted=self.preempted, placements=tuple(self.placements),
                        order=tuple(self.order))

    # -- one step run ------------------------------------------------------------------------

    def consider(self, w: Waiting) -> None:
        sid = w.step_run_id
        quota = self.snap.quotas.get(w.team)
        if quota is None:
            self.blocked[sid] = f"team {w.team} has no quota yet: an admin must set one"
            return
        key = self.shape(w)
        never = self.never(w, key)
        if never:
            self.impossible[sid] = never
            return
        if w.ready_at is not None and w.ready_at > self.now:
            self.blocked[sid] = f"retry backoff until {w.ready_at.isoformat(timespec='seconds')}"
            return
        if self.blocking_all is not None or w.team in self.blocking_team:
            ahead = self.blocking_all if self.blocking_all is not None else self.blocking_team[w.team]
            self.blocked[sid] = f"behind step run {ahead} (strict head of line)"
            return
        excluded = self.excluded(w)
        if excluded:
            self.blocked[sid] = excluded
            return
        got = self.fit(w, key)
        if isinstance(got, Fit):
            why = self.backfill_refusal(w, got)
            if why is None:
                self.take(w, got)
                return
            got = Miss(why, "reserve")
        if got.kind != "reserve" and self.preempt_for(w, got, key):
            return
        self.blocked[sid] = got.reason
        if self.pol.head_of_line == "block":
            if got.kind == "cluster":
                self.blocking_all = sid
            else:
                self.blocking_team.setdefault(w.team, sid)
        elif self.pol.head_of_line == "reserve" and got.kind == "cluster" and not self.is_reserved:
            self.is_reserved = True
            self.reservation = self.reserve(w)

    def take(self, w: Waiting, fit: Fit) -> None:
        self.hold(w, fit.nodes)
        self.admitted.append(w.step_run_id)
        names = tuple(self.ledger.nodes[i].name for i in fit.nodes)
        self.placements.append(Admission(w.step_run_id, names, fit.is_borrowed))
        end = math.inf if w.estimate_s is None else w.estimate_s
        self.admitted_ends.append((end, fit.nodes, w))

    def hold(self, w: Waiting, nodes: list[int]) -> None:
        self.ledger.hold(w.team, w.request, nodes, pipeline=w.pipeline, run_id=w.run_id, excludes=w.excludes)

    # -- can it ever fit? ----------------------------------------------------------------------

    def shape(self, w: Waiting) -> tuple:
        r = w.request
        sel = tuple(sorted(w.node_selector.items())) if w.node_selector else ()
        return (w.team, r.cpu, r.memory_mb, r.gpu, r.gpu_class, w.gang, sel, w.is_preemptible)

    def never(self, w: Waiting, key: tuple) -> str | None:
        """Placement never depends on the pod's shape alone (cached across decisions); the
        team's whole quota on the team and the ask."""
        pod = key[1:7]
        try:
            why = self.never_cache[pod]
        except KeyError:
            why = self.never_cache[pod] = placement.never(self.ledger, w.request, w.gang, self.pools(w, None),
                                                          w.node_selector)
        if why:
            return why
        quota, led = self.snap.quotas[w.team], self.ledger
        if not quota.gpu_classes:  # fast path: compare with the most the team could ever hold
            most = self.team_most(w.team, w.is_preemptible)
            r, g = w.request, w.gang
            if r.cpu * g <= most[0] + 1e-9 and r.memory_mb * g <= most[1] + 1e-9 and r.gpu * g <= most[2] + 1e-9:
                return None
        reasons = []
        for cls, _ in self.choices(w):
            reasons.append(team_never(w.team, quota, asks_of(w.request, w.gang, cls), nominal=led.nominal[w.team],
                                      cohort_nominal=led.cohort_nominal.get(quota.cohort), may_borrow=w.is_preemptible))
            if reasons[-1] is None:
                return None
        return reasons[0] if reasons else None

    def team_most(self, team: str, may_borrow: bool) -> tuple[float, float, float]:
        """The most of cpu, memory and gpu a team could ever hold, borrowing included."""
        cache = self.ledger.fixed.setdefault("most", {})
        key = (team, may_borrow)
        if key not in cache:
            quota, led = self.snap.quotas[team], self.ledger
            nominal, cohort = led.nominal[team], led.cohort_nominal.get(quota.cohort)
            out = []
            for k in ("cpu", "memory_mb", "gpu"):
                most = nominal[k]
                if quota.cohort and cohort is not None and may_borrow:
                    lendable = cohort.get(k, most) - most
                    limit = None if quota.borrowing_limit is None else quota.borrowing_limit.get(k)
                    most += lendable if limit is None else min(limit, lendable)
                out.append(most)
            cache[key] = tuple(out)
        return cache[key]

    # -- does it fit now? ----------------------------------------------------------------------

    def pools(self, w: Waiting, gpu_class: str | None) -> list[int]:
        key = (w.request.gpu_class if w.request.gpu else "", bool(w.request.gpu), gpu_class,
               tuple(sorted(w.node_selector.items())) if w.node_selector else ())
        if key not in self.pools_cache:
            self.pools_cache[key] = placement.eligible_pools(self.ledger, w.request, w.node_selector, gpu_class)
        return self.pools_cache[key]

    def choices(self, w: Waiting) -> list[tuple[str, list[int]]]:
        """(GPU class, pools) to try in turn. A step that takes any class, of a team whose quota
        limits classes on their own, tries each class (by name); otherwise the class does not
        change the quota check and all matching pools are tried together."""
        quota = self.snap.quotas[w.team]
        if w.request.gpu and not w.request.gpu_class and quota.gpu_classes:
            classes = sorted({self.ledger.pools[p].gpu_class for p in self.pools(w, None)})
            return [(c, self.pools(w, c)) for c in classes]
        return [(w.request.gpu_class, self.pools(w, None))]

    def fit(self, w: Waiting, key: tuple) -> Fit | Miss:
        """Its team first (quota, borrowing), then the nodes. A pod shape the nodes refused
        stays refused while nothing is released (the cluster only fills during a decision), so
        that refusal is reused; its numbers are those of when it was first refused."""
        quota, led = self.snap.quotas[w.team], self.ledger
        first: Miss | None = None
        for cls, pools in self.choices(w):
            why, borrows = self.team_check(w, quota, cls)
            if why:
                first = first or Miss(why, "team")
                continue
            pod = (key[1:7], cls)
            cached = self.miss_cache.get(pod)
            if cached is not None and cached[0] == led.releases:
                first = first or cached[1]
                continue
            nodes = placement.place(led, w.request, w.gang, pools)
            if nodes is not None:
                return Fit(nodes, borrows)
            miss = Miss(placement.shortfall(led, w.request, w.gang, pools, self.where(w, pools)), "cluster")
            self.miss_cache[pod] = (led.releases, miss)
            first = first or miss
        assert first is not None
        return first

    def team_check(self, w: Waiting, quota, cls: str) -> tuple[str | None, bool]:
        led = self.ledger
        used, nominal = led.team_used.get(w.team) or {}, led.nominal[w.team]
        r, g = w.request, w.gang
        if (not quota.gpu_classes and used.get("cpu", 0.0) + r.cpu * g <= nominal["cpu"] + 1e-9
                and used.get("memory_mb", 0.0) + r.memory_mb * g <= nominal["memory_mb"] + 1e-9
                and used.get("gpu", 0.0) + r.gpu * g <= nominal["gpu"] + 1e-9):
            return None, False  # fast path: within nominal quota
        return team_shortfall(
            w.team, quota, asks_of(r, g, cls), used=used, nominal=nominal,
            cohort_used=led.cohort_used.get(quota.cohort), cohort_nominal=led.cohort_nominal.get(quota.cohort),
            may_borrow=w.is_preemptible)

    def _fit(self, w: Waiting) -> Fit | Miss:
        """Fit without reusing refusals (a what-if after releasing victims)."""
        self.miss_cache.clear()
        return self.fit(w, self.shape(w))

    def where(self, w: Waiting, pools: list[int]) -> str:
        if len(pools) == len(self.ledger.pools):
            return "cluster"
        wanted = sorted({self.ledger.pools[p].gpu_class for p in pools} - {""})
        parts = [f"gpu class {'/'.join(wanted)}"] if wanted and w.request.gpu else []
        parts += [f"{k}={v}" for k, v in sorted(w.node_selector.items())]
        return "nodes with " + " and ".join(parts) if parts else "matching nodes"

    def excluded(self, w: Waiting) -> str | None:
        led = self.ledger
        for p in sorted(w.excludes):
            runs = led.pipeline_runs.get(p)
            if runs and any(r != w.run_id for r in runs):
                return f"pipeline {w.pipeline or '?'} must not run beside pipeline {p}, which is running"
        if w.pipeline:
            runs = led.excluders.get(w.pipeline)
            others = sorted({p for (r, p) in runs or () if r != w.run_id})
            if others:
                return f"pipeline {others[0]}, which is running, must not run beside pipeline {w.pipeline}"
        return None

    # -- preemption ----------------------------------------------------------------------------

    def candidates(self, w: Waiting) -> list[tuple[Running, str]]:
        """Running step runs that could make room for ``w``, cheapest to lose first: reclaimed
        borrowed work, then the policy's victims (lowest priority, or longest remaining time
        under srtf), the most recently started first, then the highest id."""
        if self.victims is None:
            self.index_victims()
        if not self.pol.preemption and not self.borrowed:
            return []  # nothing to reclaim, and the policy preempts nothing
        led = self.ledger
        used, nominal = led.team_used.get(w.team, {}), led.nominal[w.team]
        asks = asks_of(w.request, w.gang, w.request.gpu_class)
        is_entitled = all(used.get(k, 0.0) + v <= nominal[k] + 1e-9 for k, v in asks.items() if k in nominal)
        pool = list(self.victims.get(w.team, ())) if self.pol.preemption else []
        if is_entitled or self.pol.preemption:
            pool += [r for r in self.borrowed if r.team != w.team]
        out = []
        for r in pool:
            if r.step_run_id in self.preempted:
                continue
            if is_entitled and r.team != w.team and r.is_borrowed and led.is_over_nominal(r.team):
                why = f"preempted: team {w.team} reclaims its nominal quota for step run {w.step_run_id}"
                rank = 0
            else:
                why = self.pol.may_preempt(w, r, self.now)
                rank = 1
            if why:
                out.append(((rank, r.priority, -remaining_s(r, self.now), -_ts(r.started_at), -r.step_run_id), r, why))
        out.sort(key=lambda c: c[0])
        return [(r, why) for _, r, why in out]

    def index_victims(self) -> None:
        """Once per decision: preemptible running work by team, and borrowed work."""
        self.victims = {}
        self.borrowed = []
        for r in self.snap.running:
            if r.is_stopping:
                continue
            if r.is_borrowed:
                self.borrowed.append(r)
            elif r.is_preemptible:
                self.victims.setdefault(r.team, []).append(r)

    def preempt_for(self, w: Waiting, miss: Miss, shape: tuple) -> bool:
        if self.preempt_tries >= MAX_PREEMPTION_TRIES:
            return False
        key = (shape, w.priority, w.estimate_s)
        if self.no_room.get(key) == self.ledger.releases:
            return False  # the same ask found no victims, and nothing changed since
        cands = self.candidates(w)
        if not cands:
            self.no_room[key] = self.ledger.releases
            return False
        self.preempt_tries += 1
        led = self.ledger
        released: list[tuple[Running, str]] = []
        got: Fit | Miss = miss
        for r, why in cands:
            led.release_running(r, self.idx(r))
            released.append((r, why))
            got = self._fit(w)
            if isinstance(got, Fit):
                break
        if not isinstance(got, Fit):
            for r, _ in released:
                led.hold(r.team, r.request, self.idx(r), pipeline=r.pipeline, run_id=r.run_id, excludes=r.excludes)
            self.no_room[key] = led.releases
            return False
        for item in reversed(released[:-1]):  # keep whoever is not needed after all
            r = item[0]
            led.hold(r.team, r.request, self.idx(r), pipeline=r.pipeline, run_id=r.run_id, excludes=r.excludes)
            if isinstance(self._fit(w), Fit):
                released.remove(item)
            else:
                led.release_running(r, self.idx(r))
        got = self._fit(w)
        assert isinstance(got, Fit)
        self.hold(w, got.nodes)  # the room is held for it until the victims have stopped
        victims = sorted(r.step_run_id for r, _ in released)
        for r, why in released:
            self.preempted[r.step_run_id] = why
        self.blocked[w.step_run_id] = f"waits for preempted step run{'s' if len(victims) > 1 else ''} " \
                                      f"{', '.join(map(str, victims))} to stop"
        return True

    def idx(self, r: Running) -> tuple[int, ...]:
        if r.step_run_id not in self.held_idx:
            self.held_idx[r.step_run_id] = tuple(self.ledger.node_index.get(n, -1) for n in r.nodes)
        return self.held_idx[r.step_run_id]

    # -- reservation (EASY backfill) -----------------------------------------------------------

    def reserve(self, w: Waiting) -> "_Reservation | None":
        """When the blocked step ``w`` can start, counting on running work ending as estimated,
        and what it leaves over then. None when some of the work it waits for has no estimate."""
        pools = set(self.pools(w, None))
        led = self.ledger
        free = [sum(led.pools[p].free[k] for p in pools) for k in range(3)]
        need = [w.request.cpu * w.gang, w.request.memory_mb * w.gang, w.request.gpu * w.gang]
        ends: list[tuple[float, float, float, float]] = []
        for r in self.snap.running:
            pods = sum(1 for i in self.idx(r) if i >= 0 and led.node_pool[i] in pools)
            if pods and r.step_run_id not in self.preempted:
                ends.append((remaining_s(r, self.now), r.request.cpu * pods, r.request.memory_mb * pods, r.request.gpu * pods))
        for end, nodes, a in self.admitted_ends:
            pods = sum(1 for i in nodes if led.node_pool[i] in pools)
            if pods:
                ends.append((end, a.request.cpu * pods, a.request.memory_mb * pods, a.request.gpu * pods))
        ends.sort()
        start_in = 0.0
        for end, *amount in ends:
            if all(free[k] + 1e-9 >= need[k] for k in range(3)):
                break
            if math.isinf(end):
                return None
            free = [free[k] + amount[k] for k in range(3)]
            start_in = end
        else:
            if not all(free[k] + 1e-9 >= need[k] for k in range(3)):
                return None
        return _Reservation(w.step_run_id, start_in, [free[k] - need[k] for k in range(3)], pools)

    def backfill_refusal(self, w: Waiting, fit: Fit) -> str | None:
        res = self.reservation
        if res is None or not any(self.ledger.node_pool[i] in res.pools for i in fit.nodes):
            return None
        if w.estimate_s is not None and w.estimate_s <= res.start_in_s + 1e-9:
            return None
        ask = [w.request.cpu * w.gang, w.request.memory_mb * w.gang, w.request.gpu * w.gang]
        if all(ask[k] <= res.extra[k] + 1e-9 for k in range(3)):
            res.extra = [res.extra[k] - ask[k] for k in range(3)]
            return None
        at = (self.now + timedelta(seconds=res.start_in_s)).isoformat(timespec="seconds")
        return f"would delay step run {res.step_run_id}, reserved to start at {at}"


@dataclass
class _Reservation:
    step_run_id: int
    start_in_s: float
    extra: list[float]
    pools: set[int]


def _ts(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0


def usage_of(snap: Snapshot) -> Mapping[str, Mapping[str, float]]:
    """What each team holds in ``snap`` (resource key -> amount): for views and tests."""
    ledger = snap.ledger.copy() if snap.ledger is not None else Ledger.build(snap.cluster_nodes(), snap.quotas, snap.running)
    return ledger.team_used
