"""Preemption: which running step runs stop to make room for a waiting one, and why.

Part of an admission round (``admission._Round`` mixes it in): it reads and changes the
round's ledger, and asks the round whether the step fits once victims are released
(``fits_now``). Borrowed work is reclaimed under every policy for a team within its nominal
quota; beyond that, a policy preempts what ``Policy.preempts`` allows. The fewest victims are
chosen, cheapest to lose first.
"""
from __future__ import annotations

from datetime import datetime

from .ledger import asks_of
from .policies import remaining_s
from .types import Running, Waiting

MAX_PREEMPTION_TRIES = 64  # per decision: a what-if costs a pass over the running steps


class Preemption:
    """The preemption half of an admission round (see the module docstring)."""

    # What most decisions never need, as defaults here (a decision that does sets its own):
    victims: dict[str, list[Running]] | None = None  # preemptible running work by team (see ``index_victims``)
    borrowed: tuple[Running, ...] | list[Running] = ()  # running work admitted by borrowing
    no_room: dict[tuple, tuple[int, bool]] | None = None  # ask -> (ledger version, whether it counted as a try)

    def candidates(self, w: Waiting) -> list[tuple[Running, bool]]:
        """Running step runs that could make room for ``w``, cheapest to lose first: reclaimed
        borrowed work, then the policy's victims (lowest priority, or longest remaining time
        under srtf), the most recently started first, then the highest id. With each, whether
        it is reclaimed (see ``why_preempted``)."""
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
                out.append(((0, r.priority, -remaining_s(r, self.now), -_ts(r.started_at), -r.step_run_id), r, True))
            elif self.pol.preempts(w, r, self.now):
                out.append(((1, r.priority, -remaining_s(r, self.now), -_ts(r.started_at), -r.step_run_id), r, False))
        out.sort(key=lambda c: c[0])
        return [(r, reclaims) for _, r, reclaims in out]

    def why_preempted(self, w: Waiting, r: Running, reclaims: bool) -> str:
        """Why ``r`` is preempted for ``w``: reclaimed by ``w``'s team, or the policy's reason."""
        if reclaims:
            return f"preempted: team {w.team} reclaims its nominal quota for step run {w.step_run_id}"
        return self.pol.may_preempt(w, r, self.now)

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

    def preempt_for(self, w: Waiting, shape: tuple) -> bool:
        """Make room for ``w`` by preempting running work, if the fewest victims suffice."""
        if self.preempt_tries >= MAX_PREEMPTION_TRIES:
            return False
        key = (shape, w.priority, w.estimate_s)
        if self.no_room is None:
            self.no_room = {}
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
        released: list[tuple[Running, bool]] = []
        nodes: list[int] | None = None
        for r, reclaims in cands:
            led.release_running(r, self.idx(r))
            released.append((r, reclaims))
            nodes = self.fits_now(w)
            if nodes is not None:
                break
        if nodes is None:
            for r, _ in released:
                led.hold(r.team, r.request, self.idx(r), pipeline=r.pipeline, run_id=r.run_id, excludes=r.excludes)
            if self.is_memoised:
                self.no_room[key] = (led.version, True)
            return False
        for item in reversed(released[:-1]):  # keep whoever is not needed after all
            r = item[0]
            led.hold(r.team, r.request, self.idx(r), pipeline=r.pipeline, run_id=r.run_id, excludes=r.excludes)
            if self.fits_now(w) is not None:
                released.remove(item)
            else:
                led.release_running(r, self.idx(r))
        nodes = self.fits_now(w)
        assert nodes is not None
        self.hold(w, nodes)  # the room is held for it until the victims have stopped
        victims = sorted(r.step_run_id for r, _ in released)
        for r, reclaims in released:
            self.preempted[r.step_run_id] = self.why_preempted(w, r, reclaims)
        self.blocked[w.step_run_id] = f"waits for preempted step run{'s' if len(victims) > 1 else ''} " \
                                      f"{', '.join(map(str, victims))} to stop"
        return True

    def idx(self, r: Running) -> tuple[int, ...]:
        if r.step_run_id not in self.held_idx:
            self.held_idx[r.step_run_id] = tuple(self.ledger.node_index.get(n, -1) for n in r.nodes)
        return self.held_idx[r.step_run_id]


def _ts(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0
