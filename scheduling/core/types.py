"""Frozen inputs and outputs of the scheduling core."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping


@dataclass(frozen=True)
class Request:
    cpu: float
    memory_mb: int
    gpu: int = 0
    gpu_class: str = ""

    def __add__(self, other: "Request") -> "Request":
        return Request(self.cpu + other.cpu, self.memory_mb + other.memory_mb, self.gpu + other.gpu)


NOTHING = Request(0.0, 0, 0)


@dataclass(frozen=True)
class Waiting:
    """A queued step run asking to be admitted."""

    step_run_id: int
    team: str
    request: Request
    submitted_at: datetime  # when it first became ready: its place in line
    priority: int = 0
    ready_at: datetime | None = None  # not before this (retry backoff)
    estimate_s: float | None = None


@dataclass(frozen=True)
class Running:
    """An admitted or running step run holding its request."""

    step_run_id: int
    team: str
    request: Request


@dataclass(frozen=True)
class TeamQuota:
    cpu: float
    memory_mb: int
    gpu: int

    def as_request(self) -> Request:
        return Request(self.cpu, self.memory_mb, self.gpu)


@dataclass(frozen=True)
class Capacity:
    """What the cluster (or this machine) can hold at once, and its largest node."""

    cpu: float
    memory_mb: int
    gpu: int
    largest_node: Request | None = None

    def as_request(self) -> Request:
        return Request(self.cpu, self.memory_mb, self.gpu)


@dataclass(frozen=True)
class Snapshot:
    waiting: tuple[Waiting, ...]
    running: tuple[Running, ...]
    quotas: Mapping[str, TeamQuota]
    capacity: Capacity


@dataclass(frozen=True)
class Decision:
    policy: str
    admitted: tuple[int, ...] = ()
    blocked: Mapping[int, str] = field(default_factory=dict)  # step run id -> why it waits
    impossible: Mapping[int, str] = field(default_factory=dict)  # can never fit: fail it
