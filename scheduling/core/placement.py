"""Placement: which node each pod of a step goes on.

Best fit: each pod goes on the *fullest* node that fits it, fullest counted in free GPUs (so GPU
nodes are kept whole for GPU work and a pod asking for a whole node only gets a free one, which
puts multi-node gangs on whole free nodes). Ties go to the node that comes first by name.
A gang is placed all or nothing: pods are placed one by one on a scratch copy of the free
counts, and nothing is placed unless every pod found a node.
"""
from __future__ import annotations

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
    pools = [ledger.pools[i] for i in pools]
    if gang == 1:
        found = _best_node(ledger, request, pools)
        return None if found is None else [found]
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


def _within_largest(ledger: Ledger, i: int, request: Request) -> bool:
    largest = ledger.nodes[i].largest
    return largest is None or (request.cpu <= largest.cpu + EPS and request.memory_mb <= largest.memory_mb
                               and request.gpu <= largest.gpu)


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
