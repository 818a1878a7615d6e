"""The executor interface: turn a JobSpec into work, report what happens to it as events."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping, Protocol

from ..core.types import Capacity

STARTED = "started"  # the job's process/pod is running
EXITED = "exited"  # it ended; exit_code says how
FAILED = "failed"  # it ended without a usable exit code (timeout, vanished, could not start)


@dataclass(frozen=True)
class JobSpec:
    """Everything an executor needs to run one attempt of one step."""

    name: str  # deterministic: the same step run attempt always gets the same name
    run_id: int
    step: str
    attempt: int
    team: str
    image: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    cpu: float
    memory_mb: int
    gpu: int
    gpu_class: str
    timeout_s: int
    workdir: str
    log_path: str
    artifact_dirs: tuple[str, ...] = ()  # made before the job starts


@dataclass(frozen=True)
class ExecutorEvent:
    handle: str
    kind: str  # STARTED | EXITED | FAILED
    position: str  # resume watching after this event with watch(since=position)
    exit_code: int | None = None
    reason: str = ""
    node: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


class Executor(Protocol):
    def workdir(self, run_id: int) -> str: ...
    def log_path(self, spec: JobSpec) -> str:
        """Where Trellis (the step log endpoint) reads the job's log. Optional: without it, the
        spec's own ``log_path``."""
    def submit(self, spec: JobSpec) -> str: ...
    def cancel(self, handle: str) -> None: ...
    def preempt(self, handle: str, grace_s: float) -> None:
        """Stop the job to make room: SIGTERM, then kill after ``grace_s`` seconds (time to write a
        checkpoint). Its end is reported by ``watch`` like any other."""
    def watch(self, since: str | None) -> Iterator[ExecutorEvent | None]:
        """Events after position ``since``, forever; None whenever it has caught up (or is idle)."""
    def list_active(self) -> list[str]: ...
    def capacity(self) -> Capacity: ...
