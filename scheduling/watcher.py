"""The watcher: follows executor events and records them as step run transitions.

It resumes from the position saved in DispatchCursor; replaying an event is harmless because
every transition is conditional on the step run's current status and attempt.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable

from django.utils import timezone

from pipelines import services, states
from pipelines.models import StepRun

from .executors.base import EXITED, STARTED, Executor, ExecutorEvent
from .models import DispatchCursor

log = logging.getLogger(__name__)

SAVE_EVERY_S = 0.5


def record_event(event: ExecutorEvent, *, now: datetime) -> bool:
    """Turn one executor event into a transition of the step run holding that job."""
    sr = StepRun.objects.filter(handle=event.handle).values("id", "attempt", "status").first()
    if sr is None:
        log.debug("no step run holds %s (a stale event)", event.handle)
        return False
    move = dict(now=now, attempt=sr["attempt"])
    if event.kind == STARTED:
        return services.transition(sr["id"], to=states.RUNNING, expected=states.ADMITTED, node=event.node, **move)
    if sr["status"] == states.ADMITTED:  # the start was not seen (e.g. a very short job): record it first
        services.transition(sr["id"], to=states.RUNNING, expected=states.ADMITTED, node=event.node, **move)
    if event.kind == EXITED and event.exit_code == 0:
        return services.transition(sr["id"], to=states.SUCCEEDED, expected=states.RUNNING, exit_code=0, **move)
    return services.transition(
        sr["id"], to=states.FAILED, expected=states.RUNNING, reason=event.reason, exit_code=event.exit_code, **move
    )


def follow(executor: Executor, *, name: str, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Record the executor's events until ``should_stop()``; save the position as it goes."""
    cursor, _ = DispatchCursor.objects.get_or_create(name=name)
    position, saved_at = cursor.position, time.monotonic()
    log.info("watching %s from position %r", name, position or "the start")
    for event in executor.watch(position or None):
        if event is not None:
            record_event(event, now=timezone.now())
            position = event.position
        if position != cursor.position and (event is None or time.monotonic() - saved_at > SAVE_EVERY_S):
            DispatchCursor.objects.filter(pk=cursor.pk).update(position=position)
            cursor.position, saved_at = position, time.monotonic()
        if should_stop():
            break
    DispatchCursor.objects.filter(pk=cursor.pk).update(position=position)
