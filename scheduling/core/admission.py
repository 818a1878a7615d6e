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
EPS = 1e-9
NO_USE: Mapping[str, float] = {}


@dataclass
class Fit:
    nodes: list[int]
    is_borrowed: bool


Miss = tuple  # (reason, kind): kind "team" (its team's quota), "cluster" (the nodes) or "reserve"
# A plain tuple: a decision makes one per step that waits, thousands in a large queue.


class _Team:
    """A team's quota as admission reads it, worked out once per ledger (and preemptibility:
    only a preemptible step borrows)."""

    __slots__ = ("quota", "nominal", "most", "is_simple")

    def __init__(self, quota, nominal, most, is_simple: bool) -> None:
        self.quota = quota  # None: the team has no quota
        self.nominal = nominal
        self.most = most  # the most cpu, memory and gpu it could ever hold, borrowing included
        self.is_simple = is_simple  # its quota limits no GPU class on its own


class _Pod:
    """One kind of step by what it asks (request, gang, node selector), worked out once per ledger."""

    __slots__ = ("never", "choices", "totals")

    def __init__(self, never: str | None, choices: list, totals: tuple[float, float, float]) -> None:
        self.never = never  # why no node could ever hold it, or None
        self.choices = choices  # [(GPU class, pools, resource asks, pod key)] for a team whose quota limits no class
        self.totals = totals  # cpu, memory and gpu asked by all its pods


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
       delay the reserved step (EASY backfill); a step that fits only by borrowing is put off
       until every other step has been considered, so no team's nominal quota is lent away
       while its own work waits for it;
    5. if it does not fit, running work may make room: borrowed work of teams above their
       nominal quota when its own team is within nominal (reclaim, under every policy), or what
       the policy may preempt. The fewest victims are chosen; the step then waits for them to
       stop with the room held for it, so later steps cannot take it.

    Every reason states the cluster and quotas as they were when that step was considered.
    Nothing here reads a clock: ``now`` decides backoff, ageing and expected end times.
    """
    return _decide(snap, policies.get(policy), now, is_memoised=True)


def admit_plainly(snap: Snapshot, *, policy: str | Policy, now: datetime) -> Decision:
    """``admit`` with every shortcut off: each step worked out from scratch. The reference that
    tests hold ``admit`` to (same decision, same reasons); too slow for a large queue."""
    return _decide(snap, policies.get(policy), now, is_memoised=False)


def admit_holding(snap: Snapshot, *, policy: str | Policy, now: datetime) -> Decision:
    """``admit`` for a caller that keeps ``snap.ledger`` (the simulator) and starts every
    admitted step at once: when nothing is preempted, the ledger is left holding what was
    admitted (so the caller does not hold it again); otherwise it is left unchanged, as by
    ``admit``. Say which with ``Decision.preempted``: empty means held."""
    assert snap.ledger is not None, "admit_holding needs the caller's ledger"
    return _decide(snap, policies.get(policy), now, is_memoised=True, is_holding=True)


def _decide(snap: Snapshot, pol: Policy, now: datetime, *, is_memoised: bool, is_holding: bool = False) -> Decision:
    if snap.ledger is None:
        return _Round(snap, pol, now, None, is_memoised).decide()
    with snap.ledger.trying() as trial:  # every change undone on the way out, unless kept
        decision = _Round(snap, pol, now, trial.ledger, is_memoised).decide()
        if is_holding and not decision.preempted:
            trial.keep()
        return decision


class _Round:
    """One decision's working state: a private ledger and what has been decided so far.

    Shortcuts (``is_memoised``), each exact, so that they never change a decision or a reason
    (``admit_plainly`` takes none, and tests hold the two to the same answers):

    - a team's quota and a step's shape (what it asks, where it may go, whether it could ever
      fit) are worked out once per ledger;
    - a pod shape the nodes refused stays refused while nothing is released (the cluster only
      fills during a decision); the refusal's text is reused while its pools are unchanged;
    - a team's answer to an ask is reused while the team's use (and, for a step that may
      borrow, its cohort's) is unchanged;
    - an ask that found no victims to preempt is not tried again while the ledger is unchanged.
    """

    def __init__(self, snap: Snapshot, pol: Policy, now: datetime, ledger: Ledger | None,
                 is_memoised: bool = True) -> None:
        self.snap, self.pol, self.now, self.is_memoised = snap, pol, now, is_memoised
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
        if is_memoised:
            self.pools_cache: dict = ledger.fixed.setdefault("pools", {})
            self.never_cache: dict = ledger.fixed.setdefault("never", {})
            shapes = ledger.fixed.get("shapes")
            if shapes is None or shapes[0] is not snap.quotas:
                shapes = ledger.fixed["shapes"] = (snap.quotas, {}, {})
            self.teams: dict[tuple, _Team] = shapes[1]
            self.pods: dict[tuple, _Pod] = shapes[2]
        else:
            self.pools_cache, self.never_cache, self.teams, self.pods = {}, {}, {}, {}
        self.miss_cache: dict[tuple, int] = {}  # pod key -> releases when the nodes refused it
        self.reason_cache: dict[tuple, tuple[int, str]] = {}  # pod key -> (its pools' versions, refusal)
        self.team_cache: dict[tuple, tuple] = {}  # team and ask -> (team version, cohort version or None, answer)
        self.preempt_tries = 0
        self.no_room: dict[tuple, tuple[int, bool]] = {}  # ask -> (ledger version, whether it counted as a try)
        self.victims: dict[str, list[Running]] | None = None
        self.borrowed: list[Running] = []
        self.blocking_all: int | None = None  # strict head of line: the step everyone waits behind
        self.blocking_team: dict[str, int] = {}
        self.reservation: _Reservation | None = None
        self.is_reserved = False
        self.admitted_ends: list[tuple[float, list[int], Waiting]] = []
        self.deferred: list[Waiting] | None = []  # steps that fit only by borrowing; None: second pass

    def decide(self) -> Decision:
        consider, order = self.consider, self.order
        for w in self.pol.order(self.snap.waiting, self.snap, self.now, self.pol, self.ledger):
            order.append(w.step_run_id)
            consider(w)
        self.consider_deferred()
        return Decision(policy=self.pol.name, admitted=tuple(self.admitted), blocked=self.blocked,
                        impossible=self.impossible, preempted=self.preempted, placements=tuple(self.placements),
                        order=tuple(self.order))

    # -- one step run ------------------------------------------------------------------------

    def consider(self, w: Waiting) -> None:
        sid = w.step_run_id
        r = w.request  # its fields, not the Request: hashing a dataclass runs Python code
        pkey = (r.cpu, r.memory_mb, r.gpu, r.gpu_class, w.gang,
                tuple(sorted(w.node_selector.items())) if w.node_selector else ())
        tkey = (w.team, w.is_preemptible)
        team = self.teams.get(tkey) if self.is_memoised else None
        if team is None:
            team = self.teams[tkey] = self.team_of(w.team, w.is_preemptible)
        if team.quota is None:
            self.blocked[sid] = f"team {w.team} has no quota yet: an admin must set one"
            return
        pod = self.pods.get(pkey) if self.is_memoised else None
        if pod is None:
            pod = self.pods[pkey] = self.pod_of(w, pkey)
        if pod.never:
            self.impossible[sid] = pod.never
            return
        if team.is_simple:
            choices, totals, most = pod.choices, pod.totals, team.most
            if totals[0] > most[0] + EPS or totals[1] > most[1] + EPS or totals[2] > most[2] + EPS:
                never = self.team_never(w, team.quota, choices)
                if never:
                    self.impossible[sid] = never
                    return
        else:  # a quota per GPU class: the classes are tried in turn
            choices, totals = self.choices_of(w, pkey), None
            never = self.team_never(w, team.quota, choices)
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
        if w.excludes or (w.pipeline and self.ledger.excluders):
            excluded = self.excluded(w)
            if excluded:
                self.blocked[sid] = excluded
                return
        if totals is not None and len(choices) == 1:
            got = self.fit_one(w, choices[0], team, totals)
        else:
            got = self.fit(w, choices, team, totals)
        if got.__class__ is Fit:
            if got.is_borrowed and self.deferred is not None:
                self.deferred.append(w)  # within-nominal work first: see ``consider_deferred``
                return
            why = self.backfill_refusal(w, got) if self.reservation is not None else None
            if why is None:
                self.take(w, got)
                return
            got = (why, "reserve")
        if (got[1] != "reserve" and self.preempt_tries < MAX_PREEMPTION_TRIES
                and (self.pol.preemption or self.has_borrowed()) and self.preempt_for(w, got, (tkey, pkey))):
            return
        self.blocked[sid] = got[0]
        if self.pol.head_of_line == "block":
            if got[1] == "cluster":
                self.blocking_all = sid
            else:
                self.blocking_team.setdefault(w.team, sid)
        elif self.pol.head_of_line == "reserve" and got[1] == "cluster" and not self.is_reserved:
            self.is_reserved = True
            self.reservation = self.reserve(w)

    def consider_deferred(self) -> None:
        """The second pass: the step runs that fit only by borrowing, in the order they were met.

        Borrowed room goes to what is left once every team has had its nominal quota: a lender's
        own queued work is not lent away, only to be reclaimed by preemption a moment later (and
        the borrower queued again, over and over). Head of line here is among these steps only:
        each was first in line when it was met, so what blocked later in the first pass does not
        hold it back.
        """
        deferred, self.deferred = self.deferred, None
        if not deferred:
            return
        self.blocking_all, self.blocking_team = None, {}
        for w in deferred:
            self.consider(w)

    def take(self, w: Waiting, fit: Fit) -> None:
        self.hold(w, fit.nodes)
        self.admitted.append(w.step_run_id)
        nodes = self.ledger.nodes
        self.placements.append(Admission(w.step_run_id, tuple([nodes[i].name for i in fit.nodes]), fit.is_borrowed))
        self.admitted_ends.append((math.inf if w.estimate_s is None else w.estimate_s, fit.nodes, w))

    def hold(self, w: Waiting, nodes: list[int]) -> None:
        self.ledger.hold(w.team, w.request, nodes, pipeline=w.pipeline, run_id=w.run_id, excludes=w.excludes)

    # -- what kind of step is it, and can it ever fit? -----------------------------------------

    def team_of(self, name: str, is_preemptible: bool) -> _Team:
        quota = self.snap.quotas.get(name)
        if quota is None:
            return _Team(None, None, None, False)
        return _Team(quota, self.ledger.nominal[name], self.team_most(name, is_preemptible), not quota.gpu_classes)

    def pod_of(self, w: Waiting, pkey: tuple) -> _Pod:
        """Placement never depends on the pod's shape alone (so is cached across decisions)."""
        r, g = w.request, w.gang
        try:
            never = self.never_cache[pkey]
        except KeyError:
            never = self.never_cache[pkey] = placement.never(self.ledger, r, g, self.pools(w, None), w.node_selector)
        choices = [(r.gpu_class, self.pools(w, None), asks_of(r, g, r.gpu_class), (pkey, r.gpu_class))]
        return _Pod(never, choices, (r.cpu * g, r.memory_mb * g, r.gpu * g))

    def choices_of(self, w: Waiting, pkey: tuple) -> list:
        """A team with a quota per GPU class: (class, pools, asks, pod key) for each class to try."""
        key = ("choices", w.team, pkey)
        got = self.pools_cache.get(key)
        if got is None:
            r, g = w.request, w.gang
            got = self.pools_cache[key] = [(cls, pools, asks_of(r, g, cls), (pkey, cls))
                                           for cls, pools in self.choices(w)]
        return got

    def team_never(self, w: Waiting, quota, choices: list) -> str | None:
        """Why the team's whole quota, borrowing included, could never hold it; None if it could."""
        led = self.ledger
        reasons = []
        for _, _, asks, _ in choices:
            reasons.append(team_never(w.team, quota, asks, nominal=led.nominal[w.team],
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

    def fit(self, w: Waiting, choices: list, team: _Team, totals: tuple | None) -> Fit | Miss:
        """Its team first (quota, borrowing), then the nodes."""
        led = self.ledger
        first: Miss | None = None
        for cls, pools, asks, pod in choices:
            why, borrows = self.team_check(w, team, totals, asks, pod)
            if why:
                if first is None:
                    first = (why, "team")
                continue
            if self.miss_cache.get(pod) == led.releases:  # refused since, and nothing released
                if first is None:
                    first = (self.cluster_reason(w, pools, pod), "cluster")
                continue
            nodes = placement.place(led, w.request, w.gang, pools)
            if nodes is not None:
                return Fit(nodes, borrows)
            if self.is_memoised:
                self.miss_cache[pod] = led.releases
            if first is None:
                first = (self.cluster_reason(w, pools, pod), "cluster")
        assert first is not None
        return first

    def fit_one(self, w: Waiting, choice: tuple, team: _Team, totals: tuple) -> Fit | Miss:
        """``fit`` for the usual step: one choice of nodes, a team whose quota limits no class."""
        cls, pools, asks, pod = choice
        led = self.ledger
        used = led.team_used.get(w.team) or NO_USE
        nominal = team.nominal
        if (used.get("cpu", 0.0) + totals[0] <= nominal["cpu"] + EPS
                and used.get("memory_mb", 0.0) + totals[1] <= nominal["memory_mb"] + EPS
                and used.get("gpu", 0.0) + totals[2] <= nominal["gpu"] + EPS):
            borrows = False  # within nominal quota
        else:
            why, borrows = self.team_check(w, team, None, asks, pod)
            if why:
                return (why, "team")
        if self.miss_cache.get(pod) != led.releases:
            nodes = placement.place(led, w.request, w.gang, pools)
            if nodes is not None:
                return Fit(nodes, borrows)
            if self.is_memoised:
                self.miss_cache[pod] = led.releases
        return (self.cluster_reason(w, pools, pod), "cluster")

    def team_check(self, w: Waiting, team: _Team, totals: tuple | None, asks: Mapping[str, float],
                   pod: tuple) -> tuple[str | None, bool]:
        led = self.ledger
        used = led.team_used.get(w.team) or NO_USE
        if totals is not None:
            nominal = team.nominal
            if (used.get("cpu", 0.0) + totals[0] <= nominal["cpu"] + EPS
                    and used.get("memory_mb", 0.0) + totals[1] <= nominal["memory_mb"] + EPS
                    and used.get("gpu", 0.0) + totals[2] <= nominal["gpu"] + EPS):
                return None, False  # fast path: within nominal quota
        quota = team.quota
        # The answer depends on the team's use, and on its cohort's only when it may borrow: reuse
        # it while neither changed.
        team_version = led.team_version.get(w.team, 0)
        cohort_version = led.cohort_version.get(quota.cohort, 0)
        memo_key = (w.team, w.is_preemptible, pod)  # pod: the shape and class that ``asks`` stands for
        cached = self.team_cache.get(memo_key)
        if cached is not None and cached[0] == team_version and cached[1] in (None, cohort_version):
            return cached[2]
        got = team_shortfall(
            w.team, quota, asks, used=used, nominal=team.nominal,
            cohort_used=led.cohort_used.get(quota.cohort), cohort_nominal=led.cohort_nominal.get(quota.cohort),
            may_borrow=w.is_preemptible)
        if self.is_memoised:
            reads_cohort = quota.cohort and w.is_preemptible  # only a step that may borrow asks its cohort
            self.team_cache[memo_key] = (team_version, cohort_version if reads_cohort else None, got)
        return got

    def cluster_reason(self, w: Waiting, pools: list[int], pod: tuple) -> str:
        """Why the nodes refuse it, as they are now (the text is reused while nothing changed)."""
        led = self.ledger
        version = sum(led.pools[p].version for p in pools) if len(pools) > 1 else led.pools[pools[0]].version
        cached = self.reason_cache.get(pod)
        if cached is not None and cached[0] == version:
            return cached[1]
        where_key = ("where", tuple(pools), bool(w.request.gpu), pod[0][5])
        who = self.pools_cache.get(where_key)
        if who is None:
            who = self.pools_cache[where_key] = self.where(w, pools)
        why = placement.shortfall(led, w.request, w.gang, pools, who)
        if self.is_memoised:
            self.reason_cache[pod] = (version, why)
        return why

    def _fit(self, w: Waiting) -> Fit | Miss:
        """Fit without reusing refusals (a what-if after releasing victims)."""
        self.miss_cache.clear()
        team = self.team_of(w.team, w.is_preemptible)
        r = w.request
        pkey = (r.cpu, r.memory_mb, r.gpu, r.gpu_class, w.gang,
                tuple(sorted(w.node_selector.items())) if w.node_selector else ())
        if team.is_simple:
            pod = self.pod_of(w, pkey)
            return self.fit(w, pod.choices, team, pod.totals)
        return self.fit(w, self.choices_of(w, pkey), team, None)

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

    def has_borrowed(self) -> bool:
        if self.victims is None:
            self.index_victims()
        return bool(self.borrowed)

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
        """Make room for ``w`` by preempting running work, if the fewest victims suffice."""
        if self.preempt_tries >= MAX_PREEMPTION_TRIES:
            return False
        key = (shape, w.priority, w.estimate_s)
        tried = self.no_room.get(key)
        if tried is not None and tried[0] == self.ledger.version:
            self.preempt_tries += tried[1]  # the same ask failed, and nothing changed since
            return False
        cands = self.candidates(w)
        if not cands:
            if self.is_memoised:
                self.no_room[key] = (self.ledger.version, False)
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
            if self.is_memoised:
                self.no_room[key] = (led.version, True)
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
        if res is None:
            return None
        node_pool, pools = self.ledger.node_pool, res.pools
        for i in fit.nodes:
            if node_pool[i] in pools:
                break
        else:
            return None  # not on the nodes it waits for
        if w.estimate_s is not None and w.estimate_s <= res.start_in_s + 1e-9:
            return None
        r, g, extra = w.request, w.gang, res.extra
        ask = (r.cpu * g, r.memory_mb * g, r.gpu * g)
        if ask[0] <= extra[0] + 1e-9 and ask[1] <= extra[1] + 1e-9 and ask[2] <= extra[2] + 1e-9:
            res.extra = [extra[k] - ask[k] for k in range(3)]
            return None
        if res.refusal is None:
            at = (self.now + timedelta(seconds=res.start_in_s)).isoformat(timespec="seconds")
            res.refusal = f"would delay step run {res.step_run_id}, reserved to start at {at}"
        return res.refusal


@dataclass
class _Reservation:
    step_run_id: int
    start_in_s: float
    extra: list[float]
    pools: set[int]
    refusal: str | None = None


def _ts(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0


def usage_of(snap: Snapshot) -> Mapping[str, Mapping[str, float]]:
    """What each team holds in ``snap`` (resource key -> amount): for views and tests."""
    ledger = snap.ledger.copy() if snap.ledger is not None else Ledger.build(snap.cluster_nodes(), snap.quotas, snap.running)
    return ledger.team_used
