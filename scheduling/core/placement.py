"""Placement: which node each pod of a step goes on.

Best fit: each pod goes on the *fullest* node that fits it, fullest counted in free GPUs (so GPU
nodes are kept whole for GPU work and a pod asking for a whole node only gets a free one, which
puts multi-node gangs on whole free nodes). Ties go to the node that comes first by name.
A gang is placed all or nothing: pods are placed one by one on a scratch copy of the free
counts, and nothing is placed unless every pod found a node.

``place_plainly`` searches the whole cluster for every pod; ``place`` takes shortcuts that
find the same nodes (tests hold the two to each other).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import islice
from typing import Iterable, Mapping

from .ledger import Ledger, Pool
from .quota import RESOURCES, describe
from .types import Request

EPS = 1e-9


def eligible_pools(ledger: Ledger, request: Request, selector: Mapping[str, str], gpu_class: str | None = None) -> list[int]:
    """Pools whose GPU class and labels suit the request (``gpu_class``: only that class).
    Nodes of no known class (an executor that does not tell) take a request for any class."""
    want = gpu_class if gpu_class is not None else (request.gpu_class if request.gpu else "")
    out = []
    for i, p in enumerate(ledger.pools):
        if want and p.gpu_class != want and (p.gpu_class or gpu_class is not None):
            continue
        if request.gpu and p.total[2] <= 0:
            continue
        if selector and any(p.labels.get(k) != v for k, v in selector.items()):
            continue
        out.append(i)
    return out


def place(ledger: Ledger, request: Request, gang: int, pools: Iterable[int]) -> list[int] | None:
    """Node indexes for ``gang`` pods of ``request`` by best fit, or None if they do not all fit."""
    return place_in(ledger, request, gang, [ledger.pools[i] for i in pools])


def place_in(ledger: Ledger, request: Request, gang: int, pools: list[Pool], scans: dict | None = None) -> list[int] | None:
    """``place`` given the pools themselves: pod after pod as ``place_plainly`` does, without
    searching the whole cluster again for each pod of a gang.

    Best fit picks, among the nodes that fit (in pools whose free counts do), the one with the
    fewest free GPUs, then the lowest index. While a gang is placed, free counts only fall. So
    the node a pod just went on is the best one for the next pod as long as that fits there (it
    has only become fuller); once it is full it stays full, as do the nodes the search passed
    over, and the search goes on from where it stopped (the *frontier*). The ledger is left
    exactly as it was: scratch counts are put back as they were (not added back, which could
    leave a rounding error) and no node changes bucket, so nothing changes version.

    ``scans``: what earlier searches found (see ``_first_fit``), for a caller that called
    ``start_scans`` on this ledger before its first search and keeps ``ledger.releases``
    counting whatever it gives back (``Ledger.release`` does).
    """
    if gang == 1:
        found = _best(ledger, request, pools, scans)
        return None if found < 0 else [found]
    free_cpu, free_mem, free_gpu, node_pool, all_pools = (ledger.free_cpu, ledger.free_mem, ledger.free_gpu,
                                                          ledger.node_pool, ledger.pools)
    cpu, mem, gpu = request.cpu, request.memory_mb, request.gpu
    least_cpu, least_mem = cpu - EPS, mem - EPS
    is_plain = not ledger.is_pooled
    chosen: list[int] = []
    was: list[tuple] = []  # (node, its free cpu, memory, gpus) before it was first taken
    pools_were: dict[int, list[float]] = {}  # pool -> its free counts before
    i, frontier = -1, (0, -1)  # the node the last pod went on; (free gpus, node) where the search stopped
    while len(chosen) < gang:
        if i < 0:  # the first pod: a search of the whole cluster
            i = _best(ledger, request, pools, scans)
            if i < 0:
                break
            frontier = (free_gpu[i], i)
            was.append((i, free_cpu[i], free_mem[i], free_gpu[i]))
        elif not (free_gpu[i] >= gpu and free_cpu[i] >= least_cpu and free_mem[i] >= least_mem
                  and _pool_holds(all_pools[node_pool[i]].free, least_cpu, least_mem, gpu)
                  and (is_plain or _within_largest(ledger, i, request))):
            found = _search(ledger, request, pools, frontier[0], frontier[1])  # it is full: past the frontier
            if found is None:
                break
            frontier, i = found, found[1]
            was.append((i, free_cpu[i], free_mem[i], free_gpu[i]))
        chosen.append(i)
        p = node_pool[i]
        pool_free = all_pools[p].free
        if p not in pools_were:
            pools_were[p] = list(pool_free)
        free_cpu[i] -= cpu
        free_mem[i] -= mem
        free_gpu[i] -= gpu
        pool_free[0] -= cpu
        pool_free[1] -= mem
        pool_free[2] -= gpu
    for i, c, m, g in was:  # the caller holds for real
        free_cpu[i], free_mem[i], free_gpu[i] = c, m, g
    for p, free in pools_were.items():
        all_pools[p].free[:] = free
    return chosen if len(chosen) == gang else None


def _pool_holds(free: list[float], cpu: float, mem: float, gpu: int) -> bool:
    """Whether a pool's free counts could hold the pod (best fit looks at no node of a pool
    that cannot; ``cpu`` and ``mem`` less EPS)."""
    return free[2] >= gpu and free[0] >= cpu and free[1] >= mem


NOTHING_FOUND = (1 << 62, 1 << 62)
NO_NODES: list[int] = []


def _best(ledger: Ledger, request: Request, pools: list[Pool], scans: dict | None) -> int:
    """The best node for one pod (-1: none fits): ``_search`` from the start, kept short."""
    cpu, mem, gpu = request.cpu - EPS, request.memory_mb - EPS, request.gpu
    free_cpu, free_mem = ledger.free_cpu, ledger.free_mem
    is_plain = not ledger.is_pooled
    best_free, best = NOTHING_FOUND
    for pool in pools:
        free = pool.free
        if free[2] < gpu or free[0] < cpu or free[1] < mem:
            continue
        buckets = pool.by_free_gpu
        for free_gpu in pool.levels:
            if free_gpu < gpu:
                continue
            if free_gpu > best_free:
                break
            nodes = buckets[free_gpu]
            i = nodes[0]  # sorted: the first that fits comes first by name
            if not (free_cpu[i] >= cpu and free_mem[i] >= mem and (is_plain or _within_largest(ledger, i, request))):
                i = _first_fit(ledger, request, pool, free_gpu, scans)
                if i < 0:
                    continue
            if free_gpu < best_free or i < best:
                best_free, best = free_gpu, i
            break
    return -1 if best_free == NOTHING_FOUND[0] else best


def start_scans(ledger: Ledger) -> None:
    """Forget which nodes entered which bucket: ``scans`` started now know nothing yet (and a
    pool notes its entrants again once a search remembers something of it)."""
    for pool in ledger.pools:
        pool.entered = None


def _first_fit(ledger: Ledger, request: Request, pool: Pool, free_gpu: int, scans: dict | None) -> int:
    """The first node of the bucket of ``free_gpu`` free GPUs after its first one that the pod
    fits on, or -1.

    Past the first ``SHORT`` nodes, with ``scans``, a search skips the nodes an earlier one
    found too full. While nothing is released, free counts only fall: a node too full for a
    pod stays so. A bucket is sorted, so a search that found node ``x`` first (or none:
    ``NONE_FITS``) found every node before ``x`` too full; a later one looks at those of the
    nodes that entered the bucket since (``Pool.entered``) that come before ``x``, and goes on
    from ``x``.
    """
    cpu, mem = request.cpu - EPS, request.memory_mb - EPS
    free_cpu, free_mem, is_plain = ledger.free_cpu, ledger.free_mem, not ledger.is_pooled
    nodes = pool.by_free_gpu[free_gpu]
    for i in islice(nodes, 1, SHORT):
        if free_cpu[i] >= cpu and free_mem[i] >= mem and (is_plain or _within_largest(ledger, i, request)):
            return i
    if len(nodes) <= SHORT:
        return -1
    start, found = SHORT, -1
    if scans is not None:
        if pool.entered is None:
            pool.entered = {}  # from now on, note the nodes that enter its buckets
        key = (id(pool), free_gpu, request.cpu, request.memory_mb, request.gpu)
        known = scans.get(key)
        entered = pool.entered.get(free_gpu) or NO_NODES
        if known is not None and known[0] == ledger.releases:
            _, seen, first = known
            if len(entered) > seen:
                free_gpus = ledger.free_gpu
                for i in entered[seen:]:  # some may have left the bucket since
                    if (i < first and (found < 0 or i < found) and free_gpus[i] == free_gpu and free_cpu[i] >= cpu
                            and free_mem[i] >= mem and (is_plain or _within_largest(ledger, i, request))):
                        found = i
            if found >= 0 or first == NONE_FITS:
                start = len(nodes)
            else:
                start = max(SHORT, bisect_left(nodes, first))
    if found < 0:
        for i in islice(nodes, start, None):
            if free_cpu[i] >= cpu and free_mem[i] >= mem and (is_plain or _within_largest(ledger, i, request)):
                found = i
                break
    if scans is not None:
        scans[key] = (ledger.releases, len(entered), NONE_FITS if found < 0 else found)
    return found


NONE_FITS = 1 << 62
SHORT = 32  # nodes at the head of a bucket that a search looks at one by one, whatever earlier ones found


def _search(ledger: Ledger, request: Request, pools: list[Pool], after_free: int, after: int) -> tuple[int, int] | None:
    """The best node (free gpus, index) for the pod past the frontier: leaving out those with
    fewer free GPUs than ``after_free`` and, with that many, those up to ``after`` (the search
    went past them already, and only the nodes it took changed since: they come before it)."""
    cpu, mem, gpu = request.cpu - EPS, request.memory_mb - EPS, request.gpu
    free_cpu, free_mem = ledger.free_cpu, ledger.free_mem
    is_plain = not ledger.is_pooled
    best_free, best = NOTHING_FOUND
    least = gpu if gpu > after_free else after_free
    for pool in pools:
        free = pool.free
        if free[2] < gpu or free[0] < cpu or free[1] < mem:
            continue
        buckets = pool.by_free_gpu
        for free_gpu in pool.levels:
            if free_gpu < least:
                continue
            if free_gpu > best_free:
                break
            nodes = buckets[free_gpu]
            if free_gpu == after_free:
                nodes = nodes[bisect_right(nodes, after):]
            for i in nodes:  # sorted: the first that fits comes first by name
                if free_cpu[i] >= cpu and free_mem[i] >= mem and (is_plain or _within_largest(ledger, i, request)):
                    if free_gpu < best_free or i < best:
                        best_free, best = free_gpu, i
                    break
            if best_free == free_gpu:
                break
    return None if best_free == NOTHING_FOUND[0] else (best_free, best)


def place_plainly(ledger: Ledger, request: Request, gang: int, pools: Iterable[int]) -> list[int] | None:
    """``place`` the plain way: each pod of a gang by a search of the whole cluster, on scratch
    counts. The reference that ``place`` is held to (and ``admit_plainly``'s placement)."""
    pools = [ledger.pools[i] for i in pools]
    chosen: list[int] = []
    for _ in range(gang):
        found = _best_node(ledger, request, pools)
        if found is None:
            break
        chosen.append(found)
        _take(ledger, found, request, +1)
    for i in chosen:  # undo the scratch placement: the caller holds for real
        _take(ledger, i, request, -1)
    return chosen if len(chosen) == gang else None


def _best_node(ledger: Ledger, request: Request, pools: list[Pool]) -> int | None:
    cpu, mem, gpu = request.cpu - EPS, request.memory_mb - EPS, request.gpu
    free_cpu, free_mem = ledger.free_cpu, ledger.free_mem
    best_free, best = 1 << 62, -1
    for pool in pools:
        free = pool.free
        if free[2] < gpu or free[0] < cpu or free[1] < mem:
            continue
        buckets = pool.by_free_gpu
        for free_gpu in sorted(buckets):
            if free_gpu < gpu:
                continue
            if free_gpu > best_free:
                break
            for i in buckets[free_gpu]:  # sorted: the first that fits comes first by name
                if free_cpu[i] >= cpu and free_mem[i] >= mem and _within_largest(ledger, i, request):
                    if free_gpu < best_free or i < best:
                        best_free, best = free_gpu, i
                    break
            if best_free == free_gpu:
                break
    return None if best < 0 else best


def _take(ledger: Ledger, i: int, request: Request, sign: int) -> None:
    """Move free counts of node ``i`` only (scratch placement of a gang; no team accounting)."""
    pool = ledger.pools[ledger.node_pool[i]]
    ledger.free_cpu[i] -= sign * request.cpu
    ledger.free_mem[i] -= sign * request.memory_mb
    if request.gpu:
        before = ledger.free_gpu[i]
        ledger.free_gpu[i] = before - sign * request.gpu
        pool.move_node(i, before, before - sign * request.gpu)
    pool.version += 1
    pool.free[0] -= sign * request.cpu
    pool.free[1] -= sign * request.memory_mb
    pool.free[2] -= sign * request.gpu


def fits_on(ledger: Ledger, request: Request, i: int) -> bool:
    """Whether one pod of ``request`` fits on node ``i`` as best fit sees it (then best fit
    places it somewhere, perhaps on a fuller node)."""
    cpu, mem, gpu = request.cpu - EPS, request.memory_mb - EPS, request.gpu
    free = ledger.pools[ledger.node_pool[i]].free
    return (ledger.free_gpu[i] >= gpu and ledger.free_cpu[i] >= cpu and ledger.free_mem[i] >= mem
            and free[2] >= gpu and free[0] >= cpu and free[1] >= mem
            and (not ledger.is_pooled or _within_largest(ledger, i, request)))


def _within_largest(ledger: Ledger, i: int, request: Request) -> bool:
    largest = ledger.nodes[i].largest
    return largest is None or (request.cpu <= largest.cpu + EPS and request.memory_mb <= largest.memory_mb
                               and request.gpu <= largest.gpu)


# -- why a step cannot be placed, now or ever ---------------------------------------------------


def never(ledger: Ledger, request: Request, gang: int, pools: list[int], selector: Mapping[str, str]) -> str | None:
    """Why no placement could ever hold the step, even on an empty cluster; None if one could."""
    if not pools:
        wanted = [f"gpu class {request.gpu_class}"] if request.gpu and request.gpu_class else []
        wanted += [f"label {k}={v}" for k, v in sorted(selector.items())]
        return "no node has " + (" and ".join(wanted) if wanted else "gpus")
    caps = [c for p in pools for c in ledger.pools[p].shapes]
    largest = [max(c[k] for c in caps) for k in range(3)]
    for k, (attr, label) in enumerate(RESOURCES):
        asked = getattr(request, attr)
        if asked > largest[k] + EPS:
            return f"asks for {asked:g} {label} but the largest node has {largest[k]:g}"
    if not any(all(getattr(request, attr) <= c[k] + EPS for k, (attr, _) in enumerate(RESOURCES)) for c in caps):
        return f"asks for {describe(request)} on one node, which no node has"
    if gang > 1:
        total = [sum(ledger.pools[p].total[k] for p in pools) for k in range(3)]
        for k, (attr, label) in enumerate(RESOURCES):
            asked = getattr(request, attr) * gang
            if asked > total[k] + EPS:
                return f"a gang of {gang} asks for {asked:g} {label} but the matching nodes have {total[k]:g}"
    return None


def shortfall(ledger: Ledger, request: Request, gang: int, pools: list[int], who: str) -> str:
    """Why the step does not fit on the nodes now (they are too full, or too fragmented)."""
    if len(pools) == 1:
        free, total = ledger.pools[pools[0]].free, ledger.pools[pools[0]].total
    else:
        free, total = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
        for p in pools:  # in pool order, as sum() would
            pf, pt = ledger.pools[p].free, ledger.pools[p].total
            free[0] += pf[0]; free[1] += pf[1]; free[2] += pf[2]  # noqa: E702
            total[0] += pt[0]; total[1] += pt[1]; total[2] += pt[2]  # noqa: E702
    for k, asked in enumerate((request.cpu * gang, request.memory_mb * gang, request.gpu * gang)):
        if asked > 0 and asked > free[k] + EPS:
            return f"{who}: {RESOURCES[k][1]} {total[k] - free[k]:g} of {total[k]:g} in use, asks {asked:g}"
    if gang > 1:
        return f"{who}: room for {gang} pods of {describe(request)} in total but not on the nodes, which are fragmented"
    for k, (attr, label) in enumerate(RESOURCES):
        asked = getattr(request, attr)
        if k == 2:  # the fullest bucket says it without looking at every node
            most = max((f for p in pools for f in ledger.pools[p].by_free_gpu), default=0)
        else:
            free = ledger.free_cpu if k == 0 else ledger.free_mem
            if any(free[i] >= asked - EPS for p in pools for i in ledger.pools[p].members):
                continue  # some node has enough of it: not the one missing
            most = max(free[i] for p in pools for i in ledger.pools[p].members)
        if asked > most + EPS:
            return f"{who}: no node has {asked:g} {label} free, at most {most:g} on one node"
    return f"{who}: no node has {describe(request)} free at once"
