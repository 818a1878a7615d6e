"""Policies order the waiting step runs; admission then takes them in that order.

A policy is ``(waiting, snapshot, now) -> list[Waiting]``. Ties break by submit time, then id.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Sequence

from .types import Snapshot, Waiting

Policy = Callable[[Sequence[Waiting], Snapshot, datetime], list[Waiting]]


def fifo(waiting: Sequence[Waiting], snap: Snapshot, now: datetime) -> list[Waiting]:
    """First come, first served: by the time a step became ready, then by step run id."""
    return sorted(waiting, key=lambda w: (w.submitted_at, w.step_run_id))


POLICIES: dict[str, Policy] = {"fifo": fifo}
