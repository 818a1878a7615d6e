"""The ledger: who holds what, per team, per cohort and per node, kept incrementally.

A decision works on its own copy; the simulator keeps one up to date between decisions
(``hold`` when a step starts, ``release`` when it ends) instead of rebuilding it every time.
Nodes are grouped into *pools* of the same GPU class and labels; inside a pool, nodes sit in
buckets by free GPUs, each bucket a sorted list of node indexes, so best fit ("the fullest node
that fits", ties to the first by name) looks at few nodes, and the buckets are the same whatever
order the holds and releases came in (a what-if that is undone leaves no trace).
"""
from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Iterable, Mapping

from .types import Node, Request, Running, TeamQuota


def asks_of(request: Request, gang: int, gpu_class: str) -> dict[str, float]:
    """The resource keys a step consumes once placed on nodes of ``gpu_class``."""
    out = {"cpu": request.cpu * gang, "memory_mb": float(request.memory_mb * gang), "gpu": float(request.gpu * gang)}
    if request.gpu and gpu_class:
        out[f"gpu/{gpu_class}"] = float(request.gpu * gang)
    return out


@dataclass
class Pool:
    """Nodes of one GPU class and one set of labels."""

    key: tuple
    gpu_class: str
    labels: Mapping[str, str]
    members: list[int] = field(default_factory=list)
    by_free_gpu: dict[int, list[int]] = field(default_factory=dict)  # free gpus -> sorted node indexes
    levels: list[int] = field(default_factory=list)  # the keys of ``by_free_gpu``, sorted
    entered: dict[int, list[int]] | None = None  # free gpus -> nodes put in that bucket, while a search
    # remembers what it found (see ``placement._first_fit``)
    free: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # cpu, memory, gpu
    total: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    shapes: set[tuple[float, float, float]] = field(default_factory=set)  # the most one pod can ask, per node
    version: int = 0  # bumped whenever its free counts change

    def copy(self) -> "Pool":
        return Pool(self.key, self.gpu_class, self.labels, self.members,
                    {f: list(nodes) for f, nodes in self.by_free_gpu.items()}, list(self.levels), list(self.free),
                    self.total, self.shapes, self.version)

    def move_node(self, i: int, before: int, after: int) -> None:
        """Node ``i`` goes from the bucket of ``before`` free GPUs to that of ``after``."""
        bucket = self.by_free_gpu[before]
        if len(bucket) == 1:
            del self.by_free_gpu[before]
            self.levels.remove(before)
        else:
            del bucket[bisect_left(bucket, i)]
        other = self.by_free_gpu.get(after)
        if other is None:
            self.by_free_gpu[after] = [i]
            insort(self.levels, after)
        else:
            insort(other, i)
        if self.entered is not None:
            log = self.entered.get(after)
            if log is None:
                self.entered[after] = [i]
            else:
                log.append(i)


class Ledger:
    """Mutable accounting. Build with ``Ledger.build``; copy before a what-if."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.names: list[str] = []  # of the nodes, by index
        self.is_pooled = False  # some node stands for a pool known only by its sum (``Node.largest``)
        self.node_index: dict[str, int] = {}
        self.node_pool: list[int] = []
        self.pools: list[Pool] = []
        self.free_cpu: list[float] = []
        self.free_mem: list[float] = []
        self.free_gpu: list[int] = []
        self.quotas: Mapping[str, TeamQuota] = {}
        self.cohort_of: dict[str, str] = {}  # team -> its cohort ("": none)
        self.nominal: dict[str, dict[str, float]] = {}
        self.cohort_nominal: dict[str, dict[str, float]] = {}
        self.team_used: dict[str, dict[str, float]] = {}
        self.cohort_used: dict[str, dict[str, float]] = {}
        self.pipeline_runs: dict[str, dict] = {}  # pipeline -> {run id: pods running}
        self.excluders: dict[str, dict] = {}  # pipeline -> {(run id, pipeline): pods} of runs excluding it
        self.version = 0  # bumped on every change, so cached refusals know when to expire
        self.fixed: dict[tuple, object] = {}  # answers that depend on nodes and quotas only, shared by copies
        self.journal: list[tuple] | None = None  # while trying: what to undo
        self.releases = 0  # bumped when anything is released: until then, what did not fit still does not
        self.team_version: dict[str, int] = {}  # bumped when the team's use changes
        self.cohort_version: dict[str, int] = {}  # bumped when the cohort's use changes

    # -- building and copying ----------------------------------------------------------------

    @classmethod
    def build(cls, nodes: Iterable[Node], quotas: Mapping[str, TeamQuota], running: Iterable[Running] = ()) -> "Ledger":
        self = cls()
        self.nodes = sorted(nodes, key=_BY_NAME)
        self.names = names = [n.name for n in self.nodes]
        self.node_index = dict(zip(names, range(len(names))))
        pool_of: dict[tuple, int] = {}
        pools, node_pool = self.pools, self.node_pool
        for i, n in enumerate(self.nodes):
            labels = n.labels
            key = (n.gpu_class, tuple(sorted(labels.items())) if labels else ())
            at = pool_of.get(key)
            if at is None:
                at = pool_of[key] = len(pools)
                pools.append(Pool(key, n.gpu_class, dict(labels)))
            p = pools[at]
            p.members.append(i)
            bucket = p.by_free_gpu.get(n.gpu)
            if bucket is None:
                p.by_free_gpu[n.gpu] = [i]
            else:
                bucket.append(i)  # i rises: each bucket stays sorted
            cpu, mem, gpu = n.cpu, float(n.memory_mb), float(n.gpu)
            free, total = p.free, p.total
            free[0] += cpu
            free[1] += mem
            free[2] += gpu
            total[0] += cpu
            total[1] += mem
            total[2] += gpu
            if n.largest is None:
                p.shapes.add((cpu, mem, gpu))
            else:
                self.is_pooled = True
                p.shapes.add((n.largest.cpu, float(n.largest.memory_mb), float(n.largest.gpu)))
            node_pool.append(at)
        for p in pools:
            p.levels = sorted(p.by_free_gpu)
        self.free_cpu = [float(n.cpu) for n in self.nodes]
        self.free_mem = [float(n.memory_mb) for n in self.nodes]
        self.free_gpu = [n.gpu for n in self.nodes]
        self.quotas = quotas
        for team, q in sorted(quotas.items()):
            self.nominal[team] = q.nominal()
            self.cohort_of[team] = q.cohort
            if q.cohort:
                total = self.cohort_nominal.setdefault(q.cohort, {})
                for k, v in self.nominal[team].items():
                    total[k] = total.get(k, 0.0) + v
        self.hold_all(running)
        return self

    def copy(self) -> "Ledger":
        other = Ledger()
        other.nodes, other.names, other.node_index, other.node_pool = self.nodes, self.names, self.node_index, self.node_pool
        other.is_pooled = self.is_pooled
        other.pools = [p.copy() for p in self.pools]
        other.free_cpu, other.free_mem, other.free_gpu = list(self.free_cpu), list(self.free_mem), list(self.free_gpu)
        other.quotas, other.nominal, other.cohort_nominal = self.quotas, self.nominal, self.cohort_nominal
        other.cohort_of = self.cohort_of
        other.team_used = {t: dict(u) for t, u in self.team_used.items()}
        other.cohort_used = {c: dict(u) for c, u in self.cohort_used.items()}
        other.pipeline_runs = {p: dict(r) for p, r in self.pipeline_runs.items()}
        other.excluders = {p: dict(r) for p, r in self.excluders.items()}
        other.version = self.version
        other.fixed = self.fixed
        other.releases = self.releases
        other.team_version = dict(self.team_version)
        other.cohort_version = dict(self.cohort_version)
        return other

    def trying(self) -> "_Trial":
        """``with ledger.trying() as trial: ...`` changes ``trial.ledger`` and undoes every change
        on leaving (unless ``trial.keep()``): cheaper than a copy when few things change."""
        return _Trial(self)

    # -- holding and releasing ---------------------------------------------------------------

    def hold_running(self, r: Running) -> tuple[int, ...]:
        """Account a running step run on its nodes (placed by best fit when it names none)."""
        idx = self._indexes(r.nodes, r.request, r.gang)
        self.hold(r.team, r.request, idx, pipeline=r.pipeline, run_id=r.run_id, excludes=r.excludes)
        return idx

    def hold_all(self, running: Iterable[Running]) -> dict[int, tuple[int, ...]]:
        """``hold_running`` for each, by step run id (so the sums come out the same whatever the
        order given); their node indexes by step run id. Nodes are put in their buckets once,
        at the end, rather than moved at every hold (the buckets come out the same)."""
        running = sorted(running, key=_BY_ID)
        if self.journal is not None or not all(r.nodes for r in running):
            return {r.step_run_id: self.hold_running(r) for r in running}  # one by one: best fit needs the buckets
        held = {}
        get, move, pipeline_runs, excluders = self.node_index.get, self._move, self.pipeline_runs, self.excluders
        for r in running:
            names = r.nodes
            idx = (get(names[0], -1),) if len(names) == 1 else tuple([get(n, -1) for n in names])
            move(r.team, r.request, idx, +1, False)
            pipeline, run_id = r.pipeline, r.run_id
            if pipeline:
                runs = pipeline_runs.setdefault(pipeline, {})
                runs[run_id] = runs.get(run_id, 0) + 1
            for p in r.excludes:
                runs = excluders.setdefault(p, {})
                runs[(run_id, pipeline)] = runs.get((run_id, pipeline), 0) + 1
            held[r.step_run_id] = idx
        free_gpu = self.free_gpu
        for pool in self.pools:
            buckets: dict[int, list[int]] = {}
            for i in pool.members:  # rising: each bucket stays sorted
                bucket = buckets.get(free_gpu[i])
                if bucket is None:
                    buckets[free_gpu[i]] = [i]
                else:
                    bucket.append(i)
            pool.by_free_gpu, pool.levels = buckets, sorted(buckets)
        return held

    def release_running(self, r: Running, idx: tuple[int, ...]) -> None:
        self.release(r.team, r.request, idx, pipeline=r.pipeline, run_id=r.run_id, excludes=r.excludes)

    def _indexes(self, names: tuple[str, ...], request: Request, gang: int) -> tuple[int, ...]:
        if names:
            get = self.node_index.get
            return tuple([get(n, -1) for n in names])
        from .placement import place  # a running step with no nodes named: put it where it fits

        found = place(self, request, gang, range(len(self.pools)))
        if found:
            return tuple(found)
        if not self.nodes:
            return (-1,) * max(gang, 1)
        # It runs although it does not fit as we count (a pool's largest node, an overcommitted
        # node): hold it on the roomiest node, so that it still counts against the cluster.
        roomiest = max(range(len(self.nodes)), key=lambda i: (self.free_gpu[i], self.free_cpu[i], self.free_mem[i], -i))
        return (roomiest,) * max(gang, 1)

    def hold(self, team: str, request: Request, idx: Iterable[int], *, pipeline: str = "", run_id=None,
             excludes: frozenset[str] = frozenset()) -> None:
        idx = tuple(idx)
        if self.journal is not None:
            self.journal.append((self.release, team, request, idx, pipeline, run_id, excludes))
        self._move(team, request, idx, +1)
        if pipeline:
            runs = self.pipeline_runs.setdefault(pipeline, {})
            runs[run_id] = runs.get(run_id, 0) + 1
        for p in excludes:
            runs = self.excluders.setdefault(p, {})
            runs[(run_id, pipeline)] = runs.get((run_id, pipeline), 0) + 1

    def release(self, team: str, request: Request, idx: Iterable[int], *, pipeline: str = "", run_id=None,
                excludes: frozenset[str] = frozenset()) -> None:
        idx = tuple(idx)
        if self.journal is not None:
            self.journal.append((self.hold, team, request, idx, pipeline, run_id, excludes))
        self._move(team, request, idx, -1)
        if pipeline:
            _decrement(self.pipeline_runs, pipeline, run_id)
        for p in excludes:
            _decrement(self.excluders, p, (run_id, pipeline))

    def _move(self, team: str, request: Request, idx: tuple[int, ...], sign: int, buckets: bool = True) -> None:
        """Take (sign +1) or give back (-1) ``request`` on each node of ``idx``; ``buckets``: also
        move the nodes between buckets of free GPUs (else the caller sorts them out)."""
        self.version += 1
        team_version = self.team_version
        team_version[team] = team_version.get(team, 0) + 1
        if sign < 0:
            self.releases += 1
        cpu, mem, gpu = request.cpu * sign, request.memory_mb * sign, request.gpu * sign
        if len(idx) == 1 and idx[0] >= 0:  # the usual: one pod, on a node we know
            i = idx[0]
            pool = self.pools[self.node_pool[i]]
            self.free_cpu[i] -= cpu
            self.free_mem[i] -= mem
            if gpu:
                free_gpu = self.free_gpu
                before = free_gpu[i]
                free_gpu[i] = before - gpu
                if buckets:
                    pool.move_node(i, before, before - gpu)
            pool.version += 1
            free = pool.free
            free[0] -= cpu
            free[1] -= mem
            free[2] -= gpu
            pods: Iterable[tuple[str, int]] = ((pool.gpu_class, 1),)
        else:
            pods = self._move_pods(request, idx, cpu, mem, gpu, buckets)
        used = self.team_used.get(team)
        if used is None:
            used = self.team_used[team] = {"cpu": 0.0, "memory_mb": 0.0, "gpu": 0.0}
        name = self.cohort_of.get(team)
        cohort = None
        if name:
            cohort = self.cohort_used.get(name)
            if cohort is None:
                cohort = self.cohort_used[name] = {"cpu": 0.0, "memory_mb": 0.0, "gpu": 0.0}
            cohort_version = self.cohort_version
            cohort_version[name] = cohort_version.get(name, 0) + 1
        for cls, n in pods:
            c, m, g = cpu * n, mem * n, gpu * n
            used["cpu"] += c  # the three are there from the start
            used["memory_mb"] += m
            used["gpu"] += g
            if cohort is not None:
                cohort["cpu"] += c
                cohort["memory_mb"] += m
                cohort["gpu"] += g
            if gpu and cls:
                k = _CLASS_KEYS.get(cls) or _class_key(cls)
                used[k] = used.get(k, 0.0) + g
                if cohort is not None:
                    cohort[k] = cohort.get(k, 0.0) + g

    def _move_pods(self, request: Request, idx: tuple[int, ...], cpu: float, mem: float, gpu: int,
                   buckets: bool) -> Iterable[tuple[str, int]]:
        """``_move`` on the nodes, for any number of pods; (GPU class, pods placed on it), in
        the order first met."""
        free_cpu, free_mem, free_gpu, node_pool, pools = self.free_cpu, self.free_mem, self.free_gpu, self.node_pool, self.pools
        pods: dict[str, int] = {}
        for i in idx:
            if i < 0:  # a node no longer in the snapshot: counts against the team only
                pods[request.gpu_class] = pods.get(request.gpu_class, 0) + 1
                continue
            pool = pools[node_pool[i]]
            free_cpu[i] -= cpu
            free_mem[i] -= mem
            if gpu:
                before = free_gpu[i]
                free_gpu[i] = before - gpu
                if buckets:
                    pool.move_node(i, before, before - gpu)
            pool.version += 1
            free = pool.free
            free[0] -= cpu
            free[1] -= mem
            free[2] -= gpu
            pods[pool.gpu_class] = pods.get(pool.gpu_class, 0) + 1
        return pods.items()

    # -- reading -----------------------------------------------------------------------------

    def is_over_nominal(self, team: str) -> bool:
        nominal = self.nominal.get(team)
        if nominal is None:
            return False
        used = self.team_used.get(team, {})
        return any(used.get(k, 0.0) > v + 1e-9 for k, v in nominal.items())


class _Trial:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.is_kept = False

    def keep(self) -> None:
        """Keep the changes made so far instead of undoing them on leaving."""
        self.is_kept = True

    def __enter__(self) -> "_Trial":
        assert self.ledger.journal is None, "one trial at a time"
        self.ledger.journal = []
        self.version = self.ledger.version
        self.releases = self.ledger.releases
        self.team_versions = dict(self.ledger.team_version)
        self.cohort_versions = dict(self.ledger.cohort_version)
        return self

    def __exit__(self, *exc) -> None:
        led, journal = self.ledger, self.ledger.journal
        led.journal = None
        if self.is_kept:
            return
        for undo, team, request, idx, pipeline, run_id, excludes in reversed(journal):
            undo(team, request, idx, pipeline=pipeline, run_id=run_id, excludes=excludes)
        led.version = self.version
        led.releases = self.releases
        led.team_version = self.team_versions
        led.cohort_version = self.cohort_versions


_CLASS_KEYS: dict[str, str] = {}
_BY_ID, _BY_NAME = attrgetter("step_run_id"), attrgetter("name")


def _class_key(gpu_class: str) -> str:
    key = _CLASS_KEYS.get(gpu_class)
    if key is None:
        key = _CLASS_KEYS[gpu_class] = f"gpu/{gpu_class}"
    return key


def _decrement(table: dict[str, dict], key: str, run_id) -> None:
    runs = table.get(key)
    if runs is None or run_id not in runs:
        return
    runs[run_id] -= 1
    if runs[run_id] <= 0:
        del runs[run_id]
    if not runs:
        del table[key]
