"""Small constructors for the scheduling core's multi-node scenarios (no Django)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from scheduling.core.types import Node, Request, Running, Snapshot, TeamQuota, Waiting

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
T0 = NOW - timedelta(hours=1)


def nodes(count: int = 2, gpu: int = 8, *, cpu: float = 64, memory_mb: int = 262144, gpu_class: str = "",
          prefix: str = "n", **labels: str) -> tuple[Node, ...]:
    return tuple(Node(f"{prefix}{i}", cpu, memory_mb, gpu, gpu_class, dict(labels)) for i in range(count))


def gpu_quota(gpu: int, *, cohort: str = "", borrowing_limit: int | None = None, **fields) -> TeamQuota:
    limit = None if borrowing_limit is None else {"gpu": borrowing_limit}
    return TeamQuota(cpu=1000, memory_mb=10**7, gpu=gpu, cohort=cohort, borrowing_limit=limit, **fields)


def job(step_run_id: int, *, team: str = "a", gpu: int = 1, at_s: float = 0, estimate_s: float | None = None,
        gang: int = 1, priority: int = 0, is_preemptible: bool = True, cpu: float = 1, **fields) -> Waiting:
    return Waiting(step_run_id, team, Request(cpu, 1024, gpu), T0 + timedelta(seconds=at_s), priority=priority,
                   estimate_s=estimate_s, gang=gang, is_preemptible=is_preemptible, **fields)


def held(step_run_id: int, *, on: tuple[str, ...] = ("n0",), team: str = "a", gpu: int = 1, priority: int = 0,
         is_preemptible: bool = True, is_borrowed: bool = False, started_s_ago: float = 60,
         estimate_s: float | None = None, cpu: float = 1, **fields) -> Running:
    return Running(step_run_id, team, Request(cpu, 1024, gpu), nodes=on, gang=len(on), priority=priority,
                   is_preemptible=is_preemptible, is_borrowed=is_borrowed,
                   started_at=NOW - timedelta(seconds=started_s_ago), estimate_s=estimate_s, **fields)


def snap(waiting=(), running=(), *, quotas=None, cluster=None, usage=None) -> Snapshot:
    waiting, running = tuple(waiting), tuple(running)
    if quotas is None:
        quotas = {t: gpu_quota(1000) for t in {x.team for x in (*waiting, *running)}}
    return Snapshot(waiting=waiting, running=running, quotas=quotas, nodes=cluster or nodes(), usage=usage or {})
