"""What leaves the process after a commit: websocket events and requests to the scheduler.

Only JSON-plain payloads leave. ``pipelines`` never imports ``scheduling``: tasks are sent by name.
"""
from __future__ import annotations

import logging
from typing import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

DISPATCH_TASK = "scheduling.dispatch"
CANCEL_TASK = "scheduling.cancel_jobs"


def run_group(run_id: int) -> str:
    return f"run.{run_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def _send_task(name: str, args: tuple = (), countdown: float | None = None) -> None:
    from mlops_web.celery import app

    try:
        app.send_task(name, args=args, countdown=countdown)
    except Exception:  # the broker being down must not undo a committed transition
        log.exception("could not enqueue %s; the periodic dispatch will catch up", name)


def _publish(messages: list[dict], team_ids: set[int]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for message in messages:
            async_to_sync(layer.group_send)(run_group(message["run"]), message)
        for team_id in team_ids:
            async_to_sync(layer.group_send)(team_group(team_id), {"type": "team.changed", "team": team_id})
    except Exception:  # clients resume from the database by sequence number
        log.exception("could not publish %d step events", len(messages))


def publish_step_events(messages: Iterable[dict], team_ids: Iterable[int] = ()) -> None:
    """Publish step transitions to ``run.<id>`` groups once the current transaction commits."""
    messages, team_ids = list(messages), set(team_ids)
    if messages:
        transaction.on_commit(lambda: _publish(messages, team_ids))


def request_dispatch(countdown: float | None = None) -> None:
    """Ask the scheduler to admit queued steps, after commit."""
    transaction.on_commit(lambda: _send_task(DISPATCH_TASK, countdown=countdown))


def request_cancel(handles: list[str]) -> None:
    """Ask the executor to stop these jobs, after commit."""
    if handles:
        transaction.on_commit(lambda: _send_task(CANCEL_TASK, args=(list(handles),)))
