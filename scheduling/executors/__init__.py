"""The one executor chooser: settings decide, once per process."""
from __future__ import annotations

from functools import lru_cache

from .base import Executor, ExecutorEvent, JobSpec

__all__ = ["Executor", "ExecutorEvent", "JobSpec", "get_executor"]


@lru_cache(maxsize=1)
def get_executor() -> Executor:
    from django.conf import settings

    if settings.TRELLIS_EXECUTOR == "local":
        from .local import LocalExecutor

        return LocalExecutor(
            state_dir=settings.TRELLIS_LOCAL_STATE_DIR,
            runs_dir=settings.TRELLIS_RUNS_DIR,
            cpu=settings.TRELLIS_LOCAL_CPUS,
            memory_mb=settings.TRELLIS_LOCAL_MEMORY_MB,
            gpu=settings.TRELLIS_LOCAL_GPUS,
            grace_s=settings.TRELLIS_CANCEL_GRACE_S,
            project_dir=settings.BASE_DIR,
        )
    raise ValueError(f"unknown TRELLIS_EXECUTOR {settings.TRELLIS_EXECUTOR!r}; expected 'local'")
