"""RunConsumer: a run's live events over ``ws/runs/<id>/``.

On connect: without ``?after=N``, a snapshot of the run (with its sequence number), then every
newer event in order; with ``?after=N``, exactly the events after N. Live events that arrive
twice or early are handled by sequence number: duplicates are dropped and a gap is filled from
the database, so the client never sees a hole or a double. Only members of the run's team may
connect. Consumers never write.
"""
from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import selectors
from .outbox import run_group

FORBIDDEN = 4403


@database_sync_to_async
def _authorised(user, run_id: int) -> bool:
    return bool(user and user.is_authenticated and selectors.can_watch_run(user, run_id))


@database_sync_to_async
def _snapshot(run_id: int) -> dict:
    from .api.serializers import RunDetailSerializer
    from .models import Run

    run = Run.objects.select_related("pipeline", "team", "version", "created_by").get(pk=run_id)
    data = RunDetailSerializer(run).data
    return {"type": "snapshot", "seq": data["last_seq"], "run": data}


_events_after = database_sync_to_async(selectors.events_after)


class RunConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.last_seq = 0
        if not await _authorised(self.scope.get("user"), self.run_id):
            await self.close(code=FORBIDDEN)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)  # join first: miss nothing
        await self.accept()
        after = self._after()
        if after is None:
            snapshot = await _snapshot(self.run_id)
            await self.send_json(snapshot)
            self.last_seq = snapshot["seq"]
        else:
            self.last_seq = after
        await self._catch_up()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "seq": self.last_seq})

    async def step_transition(self, message: dict):
        seq = message["seq"]
        if seq <= self.last_seq:
            return  # already sent (replayed from the database or a duplicate)
        if seq > self.last_seq + 1:
            await self._catch_up()  # something was lost in transit: the database has it
            return
        await self.send_json(message)
        self.last_seq = seq

    async def _catch_up(self):
        for message in await _events_after(self.run_id, self.last_seq):
            await self.send_json(message)
            self.last_seq = message["seq"]

    def _after(self) -> int | None:
        values = parse_qs(self.scope.get("query_string", b"").decode()).get("after")
        try:
            return max(0, int(values[0])) if values else None
        except ValueError:
            return None
