"""EASY backfill (head of line ``reserve``): the first step the cluster cannot hold gets a
reservation at the time enough running work is expected to end; a later step on the nodes it
waits for may start only if it is expected to end by then or fits in what it leaves over.

Part of an admission round (``admission._Round`` mixes it in): it reads the round's ledger and
what the round has admitted so far.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from .policies import remaining_s
from .types import Waiting


class Backfill:
    """The reservation half of an admission round (see the module docstring)."""

    # What most decisions never need, as defaults here (a decision that does sets its own):
    is_reserved = False  # whether a step got one (or was found unable to: ``reserve`` said None)

    def reserve(self, w: Waiting) -> "Reservation | None":
        """When the blocked step ``w`` can start, counting on running work ending as estimated,
        and what it leaves over then. None when some of the work it waits for has no estimate."""
        pools = set(self.pools(w, None))
        led = self.ledger
        free = [sum(led.pools[p].free[k] for p in pools) for k in range(3)]
        need = [w.request.cpu * w.gang, w.request.memory_mb * w.gang, w.request.gpu * w.gang]
        ends: list[tuple[float, float, float, float]] = []
        node_pool, held = led.node_pool, self.held_idx
        for r in self.snap.running:
            idx = held.get(r.step_run_id) or self.idx(r)
            if len(idx) == 1:
                pods = 1 if idx[0] >= 0 and node_pool[idx[0]] in pools else 0
            else:
                pods = sum(1 for i in idx if i >= 0 and node_pool[i] in pools)
            if pods and r.step_run_id not in self.preempted:
                ends.append((remaining_s(r, self.now), r.request.cpu * pods, r.request.memory_mb * pods, r.request.gpu * pods))
        for a, nodes in zip(self.admitted_steps, self.admitted_nodes):
            pods = sum(1 for i in nodes if led.node_pool[i] in pools)
            if pods:
                end = math.inf if a.estimate_s is None else a.estimate_s
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
        return Reservation(w.step_run_id, start_in, [free[k] - need[k] for k in range(3)], pools)

    def backfill_refusal(self, w: Waiting, nodes: list[int], asked: tuple | None = None) -> str | None:
        """Why ``w``, fitting on ``nodes``, may not start before the reserved step (None: it
        may, and then what it takes of what the reservation leaves over is counted).
        ``asked``: the cpu, memory and gpu of all its pods, if known already."""
        res = self.reservation
        if res is None:
            return None
        node_pool, pools = self.ledger.node_pool, res.pools
        if len(nodes) == 1:
            if node_pool[nodes[0]] not in pools:
                return None  # not on the nodes it waits for
        else:
            for i in nodes:
                if node_pool[i] in pools:
                    break
            else:
                return None
        if w.estimate_s is not None and w.estimate_s <= res.start_by:
            return None  # ends before the reserved step starts
        if asked is None:
            r, g = w.request, w.gang
            asked = (r.cpu * g, r.memory_mb * g, r.gpu * g)
        room = res.room
        if asked[0] <= room[0] and asked[1] <= room[1] and asked[2] <= room[2]:
            extra = res.extra
            res.extra = [extra[k] - asked[k] for k in range(3)]
            res.room = tuple(x + 1e-9 for x in res.extra)
            return None
        if res.refusal is None:
            at = (self.now + timedelta(seconds=res.start_in_s)).isoformat(timespec="seconds")
            res.refusal = f"would delay step run {res.step_run_id}, reserved to start at {at}"
        return res.refusal


@dataclass
class Reservation:
    """A blocked step's reserved start: in how long, and what it leaves over then."""

    step_run_id: int
    start_in_s: float
    extra: list[float]  # cpu, memory and gpu
    pools: set[int]
    refusal: str | None = None

    def __post_init__(self) -> None:
        self.start_by = self.start_in_s + 1e-9  # a step expected to end by then does not delay it
        self.room = tuple(x + 1e-9 for x in self.extra)  # what a step may take of ``extra``
