"""What leaves the process after a commit: websocket events and requests to the scheduler.

Only JSON-plain payloads leave. ``pipelines`` never imports ``scheduling``: tasks are sent by name.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from typing import Iterable

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
    except Exception as exc:  # the broker being down must not undo a committed transition
        _log_failure(exc, "could not enqueue %s; the periodic dispatch will catch up", name)


def _log_failure(exc: Exception, message: str, *args) -> None:
    """Redis not answering (not started yet, or down) is one line; anything else, a traceback."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    if isinstance(exc, (OSError, OperationalError, RedisConnectionError)):
        log.warning(message + " (Redis is not answering: %s)", *args, exc)
    else:
        log.error(message, *args, exc_info=exc)


class _Publisher:
    """Publishes from one background thread with its own event loop, so the channel layer keeps
    its Redis connections and a transition never waits for the network. Order is kept: one
    queue, one consumer. A message lost here (process killed) is not lost to clients: they
    resume from the database by sequence number."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pid: int | None = None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child needs its own thread
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(target=self._loop.run_forever, name="trellis-publisher", daemon=True).start()
            return self._loop

    def submit(self, messages: list[dict], team_ids: set[int]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(self._send(messages, team_ids), self._ensure_loop())

    @staticmethod
    async def _send(messages: list[dict], team_ids: set[int]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            for message in messages:
                await layer.group_send(run_group(message["run"]), message)
            for team_id in team_ids:
                await layer.group_send(team_group(team_id), {"type": "team.changed", "team": team_id})
        except Exception as exc:
            _log_failure(exc, "could not publish %d step events", len(messages))


_publisher = _Publisher()


def _publish(messages: list[dict], team_ids: set[int]) -> concurrent.futures.Future:
    return _publisher.submit(messages, team_ids)


def publish_step_events(messages: Iterable[dict], team_ids: Iterable[int] = ()) -> None:
    """Publish step transitions to ``run.<id>`` groups once the current transaction commits."""
    messages, team_ids = list(messages), set(team_ids)
    if messages:
        transaction.on_commit(lambda: _publish(messages, team_ids))


def publish_team_changed(team_ids: Iterable[int]) -> None:
    """Tell the ``team.<id>`` groups that a team's queue or quota changed, once the current
    transaction commits (a quota saved, say)."""
    team_ids = set(team_ids)
    if team_ids:
        transaction.on_commit(lambda: _publish([], team_ids))


def request_dispatch(countdown: float | None = None) -> None:
    """Ask the scheduler to admit queued steps, after commit: once per transaction, however many
    transitions in it ask (one dispatch admits everything queued; a task per transition kept the
    worker busy with dispatches that found nothing new)."""
    connection = transaction.get_connection()
    if countdown is None and connection.in_atomic_block and any(
            getattr(hook, "is_dispatch_request", False) and list(sids) == connection.savepoint_ids[:len(sids)]
            for sids, hook, *_ in connection.run_on_commit):  # asked already, and not undone by a rollback
        return

    def send() -> None:
        _send_task(DISPATCH_TASK, countdown=countdown)

    send.is_dispatch_request = countdown is None
    transaction.on_commit(send)


def request_cancel(handles: list[str]) -> None:
    """Ask the executor to stop these jobs, after commit."""
    if handles:
        transaction.on_commit(lambda: _send_task(CANCEL_TASK, args=(list(handles),)))
