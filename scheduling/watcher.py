"""The watcher: follows executor events and records them as step run transitions.

It resumes from the position saved in DispatchCursor; replaying an event is harmless because
every transition is conditional on the step run's current status and attempt.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable

from django.db import transaction
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
    # The exit code is what an EXITED event must carry; a wording of it is the executor's option.
    reason = event.reason or (f"exited with code {event.exit_code}" if event.kind == EXITED else "")
    if sr["status"] == states.ADMITTED:  # the start was not seen (e.g. a very short job): record it first
        services.transition(sr["id"], to=states.RUNNING, expected=states.ADMITTED, node=event.node, **move)
    if sr["status"] != states.PREEMPTED:
        if event.kind == EXITED and event.exit_code == 0:
            moved = services.transition(sr["id"], to=states.SUCCEEDED, expected=states.RUNNING, exit_code=0, **move)
        else:
            moved = services.transition(sr["id"], to=states.FAILED, expected=states.RUNNING, reason=reason,
                                        exit_code=event.exit_code, **move)
        if moved:
            return True
    # Preempted (before this event, or by a dispatch that raced it): the job was told to stop, and
    # its end, whatever its exit code, frees its resources and sends the same attempt back in line.
    return services.requeue_preempted(sr["id"], ended=reason or "exited with code 0", **move)


def record_batch(events: list[ExecutorEvent]) -> None:
    """Record events that arrived together, in one transaction so that their websocket messages and
    dispatch request leave together; but the jobs that ended first, in a transaction of their own:
    they free quota and ready their dependents, and a busy watcher's starts must not hold back the
    dispatch their ends ask for. Each job's own events keep their order."""
    ending = {e.handle for e in events if e.kind != STARTED}
    first = [e for e in events if e.handle in ending]
    rest = [e for e in events if e.handle not in ending]
    now = timezone.now()
    for part in (first, rest):
        if part:
            with transaction.atomic():
                for event in part:
                    record_event(event, now=now)


def follow(executor: Executor, *, name: str, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Record the executor's events until ``should_stop()``; save the position as it goes.

    ``watch`` yields None whenever it has caught up; what arrived before it is one batch.
    """
    cursor, _ = DispatchCursor.objects.get_or_create(name=name)
    position, saved_at = cursor.position, time.monotonic()
    batch: list[ExecutorEvent] = []
    log.info("watching %s from position %r", name, position or "the start")
    for event in executor.watch(position or None):
        if event is not None:
            batch.append(event)
            continue
        if batch:
            record_batch(batch)
            position, batch = batch[-1].position, []
        if position != cursor.position and time.monotonic() - saved_at > SAVE_EVERY_S:
            save_position(name, position)
            cursor.position, saved_at = position, time.monotonic()
        if should_stop():
            break
    if batch:  # the executor's stream ended without a final catch-up marker
        record_batch(batch)
        position = batch[-1].position
    save_position(name, position)


def save_position(name: str, position: str) -> None:
    """Upsert, not update: a cursor row that went away (a database restored or flushed under a
    running watcher) must not silently stop the position from being saved."""
    DispatchCursor.objects.update_or_create(name=name, defaults={"position": position})
