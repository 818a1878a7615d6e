"""admit(): which waiting step runs to start now, where, what to preempt, and why others wait."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Mapping

from . import placement, policies
from .backfill import Backfill, Reservation
from .ledger import Ledger, asks_of
from .policies import Policy
from .preemption import MAX_PREEMPTION_TRIES, Preemption
from .quota import Borrowing, refusal_text, team_never, team_shortfall, team_verdict
from .types import Admission, Decision, Running, Snapshot, Waiting

EPS = 1e-9
NO_USE: Mapping[str, float] = {}
NOTHING_HELD: Mapping[str, float] = MappingProxyType({"cpu": 0.0, "memory_mb": 0.0, "gpu": 0.0})
NOBODY: Mapping[str, int] = MappingProxyType({})


@dataclass
class Fit:
    nodes: list[int]
    is_borrowed: bool


FITS = "fits"  # what ``consider`` found, when not a ``Miss``

Miss = tuple  # (reason, kind): kind "team" (its team's quota), "cluster" (the nodes) or "reserve"
# A plain tuple: a decision makes one per step that waits, thousands in a large queue.


class _Team:
    """A team's quota as admission reads it, worked out once per ledger (and preemptibility:
    only a preemptible step borrows)."""

    __slots__ = ("quota", "nominal", "most", "is_simple", "caps", "borrowing")

    def __init__(self, quota, nominal, most, is_simple: bool, borrowing: tuple[Borrowing, ...] = ()) -> None:
        self.quota = quota  # None: the team has no quota
        self.nominal = nominal
        self.most = most  # the most cpu, memory and gpu it could ever hold, borrowing included (+ EPS)
        self.is_simple = is_simple  # its quota limits no GPU class on its own
        # its nominal cpu, memory and gpu (+ EPS): what it holds without borrowing
        self.caps = None if nominal is None else (nominal["cpu"] + EPS, nominal["memory_mb"] + EPS, nominal["gpu"] + EPS)
        self.borrowing = borrowing  # the terms on which it borrows cpu, memory and gpu


class _PodKey:
    """One kind of pod (its request, gang and node selector) on one GPU class, as the caches of a
    decision know it: one object for each kind, hashed by identity (a tuple is hashed anew, all
    its fields, at every look-up)."""

    __slots__ = ("pkey", "gpu_class")

    def __init__(self, pkey: tuple, gpu_class: str) -> None:
        self.pkey, self.gpu_class = pkey, gpu_class


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


class _Round(Preemption, Backfill):
    """One decision's working state: a private ledger and what has been decided so far.

    Shortcuts (``is_memoised``), each exact, so that they never change a decision or a reason
    (``admit_plainly`` takes none, and tests hold the two to the same answers):

    - a team's quota and a step's shape (what it asks, where it may go, whether it could ever
      fit) are worked out once per ledger, and a team's quota checked on plain numbers;
    - a pod shape the nodes refused stays refused while nothing is released (the cluster only
      fills during a decision); the refusal's text is reused while its pools are unchanged;
    - where a pod shape goes is reused while its pools are unchanged; a gang is placed without
      searching the cluster again for each pod, and a search skips what an earlier one found
      too full (``placement.place_in``);
    - a step that fits only by borrowing is put off as soon as it is seen to fit on the node
      its shape last went on (where it goes is worked out in the second pass);
    - a team's refusal is worded once for each figures it states (``quota.refusal_text``);
    - an ask that found no victims to preempt is not tried again while the ledger is unchanged.
    """

    # What most decisions never need, as a default here (a decision that does sets its own):
    team_cache: dict[tuple, tuple] | None = None  # team and ask -> (team version, cohort version or None, answer)

    def __init__(self, snap: Snapshot, pol: Policy, now: datetime, ledger: Ledger | None,
                 is_memoised: bool = True) -> None:
        self.snap, self.pol, self.now, self.is_memoised = snap, pol, now, is_memoised
        self.held_idx: dict[int, tuple[int, ...]] = {}
        if ledger is None:
            ledger = Ledger.build(snap.cluster_nodes(), snap.quotas)
            self.held_idx = ledger.hold_all(snap.running)
        self.ledger = ledger
        self.admitted: list[int] = []
        self.placements: list[Admission] = []
        self.blocked: dict[int, str] = {}
        self.impossible: dict[int, str] = {}
        self.preempted: dict[int, str] = {}
        self.order: list[int] = []
        self.scans: dict | None = None  # what placement's searches found (see ``placement.place_in``)
        if is_memoised:
            kept = ledger.fixed.get("admission")  # answers that depend on the nodes (and quotas) only
            if kept is None or kept[0] is not snap.quotas:
                kept = ledger.fixed["admission"] = (snap.quotas, {}, {}, {}, {}, {})
            _, self.pools_cache, self.pod_keys, self.never_cache, self.teams, self.pods = kept
            self.scans = {}
            placement.start_scans(ledger)
        else:
            self.pools_cache, self.never_cache, self.teams, self.pods = {}, {}, {}, {}
        self.miss_cache: dict[_PodKey, int] = {}  # -> releases when the nodes refused it
        self.reason_cache: dict[_PodKey, tuple[int, str]] = {}  # -> (its pools' versions, refusal)
        self.texts: dict[tuple, str] = {}  # a team's refusal in figures -> in words
        self.placed: dict[_PodKey, tuple] = {}  # -> (its pools' versions, nodes found or None)
        self.on_node: dict[int, tuple[str]] = {}  # node -> (its name,): where a one-pod step is admitted
        # whether a step that does not fit may look for running work to preempt: under a policy
        # that preempts, or to reclaim borrowed work (None: not known yet, see ``consider``)
        self.may_preempt: bool | None = True if pol.preemption else None
        self.preempt_tries = 0  # what-ifs tried so far
        self.blocking_all: int | None = None  # strict head of line: the step everyone waits behind...
        self.blocking_team: Mapping[str, int] = NOBODY  # ...and, for each team, the step its others wait behind
        self.reservation: Reservation | None = None  # the reservation made (EASY backfill), if any
        if pol.head_of_line == "reserve":
            # what was admitted, and where, for a reservation to count on it ending (two lists: a
            # tuple each would be more for the garbage collector to go through)
            self.admitted_steps: list[Waiting] = []
            self.admitted_nodes: list[list[int]] = []
        # the steps that fit only by borrowing, put off to a second pass (None: in it), with their
        # teams and pods (in lists of their own: a tuple for each would be more for the garbage
        # collector to go through)
        self.deferred: list[Waiting] | None = []
        self.deferred_kinds: list[_Team | _Pod] = []
        self.head_of_line = pol.head_of_line

    def decide(self) -> Decision:
        consider = self.consider
        ordered = self.pol.order(self.snap.waiting, self.snap, self.now, self.pol, self.ledger)
        if isinstance(ordered, list):  # worked out in advance (fair share's is not: it re-ranks as it goes)
            self.order = [w.step_run_id for w in ordered]
            for w in ordered:
                consider(w)
        else:
            order = self.order
            for w in ordered:
                order.append(w.step_run_id)
                consider(w)
        self.consider_deferred()
        return Decision(policy=self.pol.name, admitted=tuple(self.admitted), blocked=self.blocked,
                        impossible=self.impossible, preempted=self.preempted, placements=tuple(self.placements),
                        order=tuple(self.order))

    # -- one step run ------------------------------------------------------------------------

    def consider(self, w: Waiting, known: tuple | None = None) -> None:
        """Admit ``w`` now, put it off (it fits only by borrowing), or say why it waits.
        ``known``: what the first pass worked out about a step it put off."""
        sid = w.step_run_id
        if known is not None:  # met in the first pass (``consider_deferred``)
            team, pod = known
            tkey = pkey = None  # worked out again if needed
            if team.is_simple:
                choices, totals = pod.choices, pod.totals
            else:
                choices, totals = self.choices_of(w, self.shape_of(w)[1]), None
        else:
            r = w.request  # its fields, not the Request: hashing a dataclass runs Python code
            selector = w.node_selector
            pkey = (r.cpu, r.memory_mb, r.gpu, r.gpu_class, w.gang, tuple(sorted(selector.items())) if selector else ())
            tkey = (w.team, w.is_preemptible)
            if self.is_memoised:
                team = self.teams.get(tkey) or self.new_team(tkey)
                pod = self.pods.get(pkey) or self.new_pod(w, pkey)
            else:
                team, pod = self.team_of(*tkey), self.pod_of(w, pkey)
            if team.quota is None:
                self.blocked[sid] = f"team {w.team} has no quota yet: an admin must set one"
                return
            if pod.never:
                self.impossible[sid] = pod.never
                return
            if team.is_simple:
                choices, totals, most = pod.choices, pod.totals, team.most
                if totals[0] > most[0] or totals[1] > most[1] or totals[2] > most[2]:
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
        if self.blocking_all is not None or (self.blocking_team and w.team in self.blocking_team):
            ahead = self.blocking_all if self.blocking_all is not None else self.blocking_team[w.team]
            self.blocked[sid] = f"behind step run {ahead} (strict head of line)"
            return
        if w.excludes or (w.pipeline and self.ledger.excluders):
            excluded = self.excluded(w)
            if excluded:
                self.blocked[sid] = excluded
                return
        if totals is None:
            got = self.fit(w, choices, team, totals)
            if got.__class__ is Fit:
                got, nodes, borrows = FITS, got.nodes, got.is_borrowed
        else:  # the usual step: one choice of nodes, a team whose quota limits no class (``fit``, unrolled)
            _, pools, asks, pod_key = choices[0]
            led = self.ledger
            used = led.team_used.get(w.team) or NOTHING_HELD
            caps = team.caps
            try:
                cpu, mem, gpu = used["cpu"], used["memory_mb"], used["gpu"]  # the ledger keeps all three
            except KeyError:
                cpu, mem, gpu = used.get("cpu", 0.0), used.get("memory_mb", 0.0), used.get("gpu", 0.0)
            why = None
            if cpu + totals[0] <= caps[0] and mem + totals[1] <= caps[1] and gpu + totals[2] <= caps[2]:
                borrows = False  # within nominal quota
            elif self.is_memoised:
                why, borrows = self.beyond_nominal(w, team, totals, cpu, mem, gpu)
            else:
                why, borrows = self.team_check(w, team, None, asks, pod_key)
            if why is not None:
                got = (why, "team")
            elif borrows and self.deferred is not None and w.gang == 1 and self.still_fits(w, pod_key):
                self.deferred.append(w)  # it would fit: put it off (where it would go is worked out then)
                self.deferred_kinds += (team, pod)
                return
            else:
                nodes = self.place(w, pools, pod_key) if self.miss_cache.get(pod_key) != led.releases else None
                got = FITS if nodes is not None else (self.cluster_reason(w, pools, pod_key), "cluster")
        if got is FITS:  # on ``nodes``
            if borrows and self.deferred is not None:  # within-nominal work first: see ``consider_deferred``
                self.deferred.append(w)
                self.deferred_kinds += (team, pod)
                return
            why = self.backfill_refusal(w, nodes, totals) if self.reservation is not None else None
            if why is None:
                self.take(w, nodes, borrows)
                return
            got = (why, "reserve")
        may_preempt = self.may_preempt
        if may_preempt is None:  # once, when the first step does not fit: is there borrowed work to reclaim?
            self.index_victims()
            may_preempt = self.may_preempt = bool(self.borrowed)
        if (may_preempt and got[1] != "reserve" and self.preempt_tries < MAX_PREEMPTION_TRIES
                and self.preempt_for(w, (tkey, pkey) if tkey is not None else self.shape_of(w))):
            return
        self.blocked[sid] = got[0]
        if self.head_of_line == "skip":
            return
        if self.head_of_line == "block":
            if got[1] == "cluster":
                self.blocking_all = sid
            else:
                if self.blocking_team is NOBODY:
                    self.blocking_team = {}
                self.blocking_team.setdefault(w.team, sid)
        elif self.head_of_line == "reserve" and got[1] == "cluster" and not self.is_reserved:
            self.is_reserved = True
            self.reservation = self.reserve(w)

    def beyond_nominal(self, w: Waiting, team: _Team, totals: tuple, cpu: float, mem: float,
                       gpu: float) -> tuple[str | None, bool]:
        """``team_check`` for a team whose quota limits no class, given what it holds of cpu,
        memory and gpu (so ``team_verdict`` on these three): may it borrow what it asks beyond
        its nominal quota, and if not, why (the words written once for each refusal met)."""
        caps, refusal, borrows = team.caps, None, False
        t = totals[0]
        if t > 0 and cpu + t > caps[0]:
            refusal = team.borrowing[0].refusal(cpu, t, self.ledger.cohort_used)
            borrows = True
        t = totals[1]
        if refusal is None and t > 0 and mem + t > caps[1]:
            refusal = team.borrowing[1].refusal(mem, t, self.ledger.cohort_used)
            borrows = True
        t = totals[2]
        if refusal is None and t > 0 and gpu + t > caps[2]:
            refusal = team.borrowing[2].refusal(gpu, t, self.ledger.cohort_used)
            borrows = True
        if refusal is None:
            return None, borrows
        why = self.texts.get(refusal)
        if why is None:
            why = self.texts[refusal] = refusal_text(refusal)
        return why, False

    def new_team(self, tkey: tuple) -> _Team:
        team = self.teams[tkey] = self.team_of(*tkey)
        return team

    def new_pod(self, w: Waiting, pkey: tuple) -> _Pod:
        pod = self.pods[pkey] = self.pod_of(w, pkey)
        return pod

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
        self.blocking_all, self.blocking_team = None, NOBODY
        consider, kinds = self.consider, iter(self.deferred_kinds)
        for w, team, pod in zip(deferred, kinds, kinds):
            consider(w, (team, pod))

    def shape_of(self, w: Waiting) -> tuple[tuple, tuple]:
        """(team key, pod key) of a step, as ``consider`` looks them up."""
        r = w.request
        return ((w.team, w.is_preemptible),
                (r.cpu, r.memory_mb, r.gpu, r.gpu_class, w.gang, tuple(sorted(w.node_selector.items())) if w.node_selector else ()))

    def take(self, w: Waiting, nodes: list[int], borrows: bool) -> None:
        led = self.ledger
        led.hold(w.team, w.request, nodes, pipeline=w.pipeline, run_id=w.run_id, excludes=w.excludes)
        self.admitted.append(w.step_run_id)
        if len(nodes) == 1:  # one tuple for each node, however many are put on it
            names = self.on_node.get(nodes[0])
            if names is None:
                names = self.on_node[nodes[0]] = (led.names[nodes[0]],)
        else:
            names = tuple(map(led.names.__getitem__, nodes))
        self.placements.append(Admission(w.step_run_id, names, borrows))
        if self.head_of_line == "reserve":
            self.admitted_steps.append(w)
            self.admitted_nodes.append(nodes)

    def hold(self, w: Waiting, nodes: list[int]) -> None:
        self.ledger.hold(w.team, w.request, nodes, pipeline=w.pipeline, run_id=w.run_id, excludes=w.excludes)

    # -- what kind of step is it, and can it ever fit? -----------------------------------------

    def team_of(self, name: str, is_preemptible: bool) -> _Team:
        quota = self.snap.quotas.get(name)
        if quota is None:
            return _Team(None, None, None, False)
        most, nominal = self.team_most(name, is_preemptible), self.ledger.nominal[name]
        cohort_nominal = self.ledger.cohort_nominal.get(quota.cohort)
        return _Team(quota, nominal, (most[0] + EPS, most[1] + EPS, most[2] + EPS), not quota.gpu_classes,
                     tuple(Borrowing(name, quota, k, nominal[k], cohort_nominal, is_preemptible)
                           for k in ("cpu", "memory_mb", "gpu")))

    def pod_of(self, w: Waiting, pkey: tuple) -> _Pod:
        """Placement never depends on the pod's shape alone (so is cached across decisions)."""
        r, g = w.request, w.gang
        try:
            never = self.never_cache[pkey]
        except KeyError:
            never = self.never_cache[pkey] = placement.never(self.ledger, r, g, self.pools(w, None), w.node_selector)
        choices = [(r.gpu_class, self.pools(w, None), asks_of(r, g, r.gpu_class), self.pod_key(pkey, r.gpu_class))]
        return _Pod(never, choices, (r.cpu * g, r.memory_mb * g, r.gpu * g))

    def choices_of(self, w: Waiting, pkey: tuple) -> list:
        """A team with a quota per GPU class: (class, pools, asks, pod key) for each class to try."""
        key = ("choices", w.team, pkey)
        got = self.pools_cache.get(key)
        if got is None:
            r, g = w.request, w.gang
            got = self.pools_cache[key] = [(cls, pools, asks_of(r, g, cls), self.pod_key(pkey, cls))
                                           for cls, pools in self.choices(w)]
        return got

    def pod_key(self, pkey: tuple, gpu_class: str) -> _PodKey:
        """The one key for this kind of pod on this class (a new one each time without shortcuts)."""
        if not self.is_memoised:
            return _PodKey(pkey, gpu_class)
        key = self.pod_keys.get((pkey, gpu_class))
        if key is None:
            key = self.pod_keys[(pkey, gpu_class)] = _PodKey(pkey, gpu_class)
        return key

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

    def fit(self, w: Waiting, choices: list, team: _Team, totals: tuple | None, *, say_why: bool = True) -> Fit | Miss:
        """Its team first (quota, borrowing), then the nodes. ``say_why``: word why the nodes
        refuse it (else the reason is left empty)."""
        led = self.ledger
        first: Miss | None = None
        for cls, pools, asks, pod in choices:
            why, borrows = self.team_check(w, team, totals, asks, pod)
            if why:
                if first is None:
                    first = (why, "team")
                continue
            if self.miss_cache.get(pod) != led.releases:  # else refused since, and nothing released
                nodes = self.place(w, pools, pod)
                if nodes is not None:
                    return Fit(nodes, borrows)
            if first is None:
                first = (self.cluster_reason(w, pools, pod) if say_why else "", "cluster")
        assert first is not None
        return first

    def still_fits(self, w: Waiting, pod: _PodKey) -> bool:
        """Whether one pod of ``w`` still fits on the node the last search for its kind found
        (so it would be placed; only a step that is put off needs to know no more)."""
        known = self.placed.get(pod) if self.is_memoised else None
        return known is not None and known[1] is not None and placement.fits_on(self.ledger, w.request, known[1][0])

    def place(self, w: Waiting, pools: list[int], pod: _PodKey) -> list[int] | None:
        """Best fit on ``pools``, reused while they are unchanged; a refusal is remembered until
        something is released (``miss_cache``)."""
        led = self.ledger
        if not self.is_memoised:
            return placement.place_plainly(led, w.request, w.gang, pools)
        all_pools = led.pools
        if len(pools) == 1:
            on = [all_pools[pools[0]]]
            version = on[0].version
        elif len(pools) == len(all_pools):
            on, version = all_pools, led.version  # any change to any pool changes the ledger's version
        else:
            on = list(map(all_pools.__getitem__, pools))
            version = 0
            for pool in on:
                version += pool.version
        known = self.placed.get(pod)
        if known is not None and known[0] == version:
            nodes = known[1]
        else:
            nodes = placement.place_in(led, w.request, w.gang, on, self.scans)
            self.placed[pod] = (version, nodes)
        if nodes is None:
            self.miss_cache[pod] = led.releases
        return nodes

    def team_check(self, w: Waiting, team: _Team, totals: tuple | None, asks: Mapping[str, float],
                   pod: _PodKey) -> tuple[str | None, bool]:
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
        if self.team_cache is None:
            self.team_cache = {}
        cached = self.team_cache.get(memo_key)
        if cached is not None and cached[0] == team_version and cached[1] in (None, cohort_version):
            return cached[2]
        if not self.is_memoised:
            return team_shortfall(
                w.team, quota, asks, used=used, nominal=team.nominal,
                cohort_used=led.cohort_used.get(quota.cohort), cohort_nominal=led.cohort_nominal.get(quota.cohort),
                may_borrow=w.is_preemptible)
        refusal, borrows = team_verdict(
            w.team, quota, asks, used=used, nominal=team.nominal,
            cohort_used=led.cohort_used.get(quota.cohort), cohort_nominal=led.cohort_nominal.get(quota.cohort),
            may_borrow=w.is_preemptible)
        why = None
        if refusal is not None:
            why = self.texts.get(refusal)
            if why is None:
                why = self.texts[refusal] = refusal_text(refusal)
        reads_cohort = quota.cohort and w.is_preemptible  # only a step that may borrow asks its cohort
        self.team_cache[memo_key] = (team_version, cohort_version if reads_cohort else None, (why, borrows))
        return why, borrows

    def cluster_reason(self, w: Waiting, pools: list[int], pod: _PodKey) -> str:
        """Why the nodes refuse it, as they are now (the text is reused while nothing changed)."""
        led = self.ledger
        version = sum(led.pools[p].version for p in pools) if len(pools) > 1 else led.pools[pools[0]].version
        cached = self.reason_cache.get(pod)
        if cached is not None and cached[0] == version:
            return cached[1]
        where_key = ("where", tuple(pools), bool(w.request.gpu), pod.pkey[5])
        who = self.pools_cache.get(where_key)
        if who is None:
            who = self.pools_cache[where_key] = self.where(w, pools)
        why = placement.shortfall(led, w.request, w.gang, pools, who)
        if self.is_memoised:
            self.reason_cache[pod] = (version, why)
        return why

    def fits_now(self, w: Waiting) -> list[int] | None:
        """The nodes ``w`` would go on now, if it fits: a what-if after releasing victims
        (``preemption``), which reuses no refusal and words none."""
        self.miss_cache.clear()
        tkey, pkey = self.shape_of(w)
        if self.is_memoised:
            team = self.teams.get(tkey) or self.new_team(tkey)
        else:
            team = self.team_of(*tkey)
        if team.is_simple:
            pod = (self.pods.get(pkey) or self.new_pod(w, pkey)) if self.is_memoised else self.pod_of(w, pkey)
            got = self.fit(w, pod.choices, team, pod.totals, say_why=False)
        else:
            got = self.fit(w, self.choices_of(w, pkey), team, None, say_why=False)
        return got.nodes if got.__class__ is Fit else None

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


def usage_of(snap: Snapshot) -> Mapping[str, Mapping[str, float]]:
    """What each team holds in ``snap`` (resource key -> amount): for views and tests."""
    ledger = snap.ledger.copy() if snap.ledger is not None else Ledger.build(snap.cluster_nodes(), snap.quotas, snap.running)
    return ledger.team_used
