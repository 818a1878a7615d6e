"""Frozen inputs and outputs of the scheduling core.

Resources are counted per pod: a gang step of ``gang`` pods asks for ``gang`` times its request.
Quotas are kept per *resource key*: ``cpu``, ``memory_mb``, ``gpu`` (any class) and, for GPU
classes a quota names, ``gpu/<class>``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from .ledger import Ledger


@dataclass(frozen=True)
class Request:
    """What one pod asks for. ``gpu_class`` empty: any class will do."""

    cpu: float
    memory_mb: int
    gpu: int = 0
    gpu_class: str = ""

    def __add__(self, other: "Request") -> "Request":
        return Request(self.cpu + other.cpu, self.memory_mb + other.memory_mb, self.gpu + other.gpu)

    def times(self, n: int) -> "Request":
        return Request(self.cpu * n, self.memory_mb * n, self.gpu * n, self.gpu_class)


NOTHING = Request(0.0, 0, 0)


@dataclass(frozen=True)
class GpuClass:
    """A kind of GPU (``a100``, ``v100``); ``speed`` relative to the others, for estimates."""

    name: str
    speed: float = 1.0


@dataclass(frozen=True)
class Node:
    """A machine that pods are placed on.

    ``largest`` is set when the entry stands for a *pool* of machines known only by their sum
    (an executor that reports totals): then no pod may ask for more than ``largest``.
    """

    name: str
    cpu: float
    memory_mb: int
    gpu: int = 0
    gpu_class: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    largest: Request | None = None


@dataclass(frozen=True)
class Waiting:
    """A queued step run asking to be admitted: ``gang`` identical pods, all or nothing."""

    step_run_id: int
    team: str
    request: Request
    submitted_at: datetime  # when it first became ready: its place in line, kept across preemption
    priority: int = 0
    ready_at: datetime | None = None  # not before this (retry backoff)
    estimate_s: float | None = None  # expected run time (remaining, for a preempted step)
    gang: int = 1
    is_preemptible: bool = False
    node_selector: Mapping[str, str] = field(default_factory=dict)
    pipeline: str = ""
    run_id: int | None = None
    excludes: frozenset[str] = frozenset()  # pipelines it must never run beside


@dataclass(frozen=True)
class Running:
    """An admitted or running step run holding its request on ``nodes`` (one name per pod).

    ``nodes`` empty: it holds its request on the cluster as a whole (a single-node snapshot).
    ``is_borrowed``: admitted beyond its team's nominal quota, so reclaimable by the lenders.
    ``is_stopping``: already told to stop (preempted, in its grace period); it still holds its
    resources but is not preempted again.
    """

    step_run_id: int
    team: str
    request: Request
    nodes: tuple[str, ...] = ()
    gang: int = 1
    priority: int = 0
    is_preemptible: bool = False
    is_borrowed: bool = False
    started_at: datetime | None = None
    estimate_s: float | None = None
    pipeline: str = ""
    run_id: int | None = None
    excludes: frozenset[str] = frozenset()
    is_stopping: bool = False


@dataclass(frozen=True)
class TeamQuota:
    """Nominal quota of a team, what it may borrow beyond it, and the cohort it shares with.

    ``gpu_classes``: nominal GPUs per class, for the classes limited on their own (``gpu`` limits
    all classes together). ``borrowing_limit``: most a team may use beyond nominal, per resource
    key (``cpu``, ``memory_mb``, ``gpu``, ``gpu/<class>``); None, or a key it does not name: no
    limit but what the cohort can lend. A team with no cohort never borrows. ``weight``: its share
    for fair sharing (None: its nominal quota's share of the cluster).
    """

    cpu: float
    memory_mb: int
    gpu: int
    gpu_classes: Mapping[str, int] = field(default_factory=dict)
    cohort: str = ""
    borrowing_limit: Mapping[str, float] | None = None
    weight: float | None = None

    def as_request(self) -> Request:
        return Request(self.cpu, self.memory_mb, self.gpu)

    def nominal(self) -> dict[str, float]:
        out = {"cpu": float(self.cpu), "memory_mb": float(self.memory_mb), "gpu": float(self.gpu)}
        for cls, n in self.gpu_classes.items():
            out[f"gpu/{cls}"] = float(n)
        return out


@dataclass(frozen=True)
class Capacity:
    """What an executor reports: totals, the largest node and, when it knows them, the nodes."""

    cpu: float
    memory_mb: int
    gpu: int
    largest_node: Request | None = None
    nodes: tuple[Node, ...] = ()

    def as_request(self) -> Request:
        return Request(self.cpu, self.memory_mb, self.gpu)

    def as_nodes(self) -> tuple[Node, ...]:
        """The nodes, or one pool named ``cluster`` holding the totals (its largest node kept)."""
        if self.nodes:
            return self.nodes
        largest = self.largest_node
        if largest is not None and (largest.cpu, largest.memory_mb, largest.gpu) == (self.cpu, self.memory_mb, self.gpu):
            largest = None  # one machine: the pool is the node
        return (Node("cluster", self.cpu, self.memory_mb, self.gpu, largest=largest),)


@dataclass(frozen=True)
class Usage:
    """A team's past use in resource-seconds, decayed to ``as_of`` (for fair sharing)."""

    cpu_s: float = 0.0
    memory_mb_s: float = 0.0
    gpu_s: float = 0.0
    as_of: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything a decision reads. Give ``nodes``, or a legacy ``capacity`` (one pool).

    ``ledger``: optional accounting of ``running`` on the nodes, kept incrementally by a caller
    that replays many decisions (the simulator). It must match ``running``; ``admit`` copies it
    and never changes it.
    """

    waiting: tuple[Waiting, ...]
    running: tuple[Running, ...]
    quotas: Mapping[str, TeamQuota]
    capacity: Capacity | None = None
    nodes: tuple[Node, ...] = ()
    usage: Mapping[str, Usage] = field(default_factory=dict)
    gpu_classes: tuple[GpuClass, ...] = ()
    ledger: "Ledger | None" = field(default=None, compare=False, repr=False)

    def cluster_nodes(self) -> tuple[Node, ...]:
        if self.nodes:
            return self.nodes
        if self.capacity is None:
            return ()
        return self.capacity.as_nodes()


@dataclass(frozen=True)
class Admission:
    """A step run to start, the node of each of its pods, and whether it borrows quota."""

    step_run_id: int
    nodes: tuple[str, ...]
    is_borrowed: bool = False


@dataclass(frozen=True)
class Decision:
    """What to start, what to stop, and why every other waiting step run waits.

    ``order``: the waiting step runs in the order the policy considered them (a queue view).
    ``preempted``: running step run id -> why it must stop; the step run it makes room for waits
    (``blocked``) until it has stopped, with the room held for it.
    """

    policy: str
    admitted: tuple[int, ...] = ()
    blocked: Mapping[int, str] = field(default_factory=dict)  # step run id -> why it waits
    impossible: Mapping[int, str] = field(default_factory=dict)  # can never fit: fail it
    preempted: Mapping[int, str] = field(default_factory=dict)
    placements: tuple[Admission, ...] = ()
    order: tuple[int, ...] = ()
