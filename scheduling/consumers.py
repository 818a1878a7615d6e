"""TeamConsumer: a team's queue and quota usage, live, over ``ws/teams/<id>/``.

On connect: the payload of ``GET /api/teams/<id>/queue/``. Then a fresh one whenever the group
``team.<id>`` is told that a step run of the team changed state or its quota changed. A burst of
such events sends one update: the first starts a short settling delay, later ones only mark the
view stale, and the view is computed once the burst is over (again if more came meanwhile).
Only members of the team and platform admins may connect. Consumers never write.
"""
from __future__ import annotations

import asyncio
import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from pipelines import selectors
from pipelines.outbox import team_group

FORBIDDEN = 4403
SETTLE_S = 0.25  # how long a burst of changes may go on before one update is sent


@database_sync_to_async
def _authorised(user, team_id: int) -> bool:
    """Members of the team, and platform admins (``is_staff``) for any team there is."""
    if not (user and user.is_authenticated):
        return False
    if user.is_staff:
        from .models import Team

        return Team.objects.filter(pk=team_id).exists()
    return selectors.role_in(user, team_id) is not None


@database_sync_to_async
def _payload(team_id: int) -> dict:
    from .api.views import queue_payload
    from .models import Team

    return {"type": "queue", "queue": queue_payload(Team.objects.get(pk=team_id))}


class TeamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.team_id = int(self.scope["url_route"]["kwargs"]["team_id"])
        self.is_stale = False
        self.refresher: asyncio.Task | None = None
        if not await _authorised(self.scope.get("user"), self.team_id):
            await self.close(code=FORBIDDEN)
            return
        self.group = team_group(self.team_id)
        await self.channel_layer.group_add(self.group, self.channel_name)  # join first: miss nothing
        await self.accept()
        await self.send_json(await _payload(self.team_id))

    async def disconnect(self, code):
        refresher = getattr(self, "refresher", None)
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def team_changed(self, message: dict):
        self.is_stale = True
        if self.refresher is None or self.refresher.done():
            self.refresher = asyncio.ensure_future(self._refresh())

    async def _refresh(self):
        while self.is_stale:
            await asyncio.sleep(SETTLE_S)  # let the burst settle: one update for all of it
            self.is_stale = False
            await self.send_json(await _payload(self.team_id))
