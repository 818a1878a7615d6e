from django.urls import path

from pipelines.consumers import RunConsumer
from scheduling.consumers import TeamConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
    path("ws/teams/<int:team_id>/", TeamConsumer.as_asgi()),
]
