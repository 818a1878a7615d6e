from django.urls import path

from . import metrics, views

urlpatterns = [
    path("teams/", views.TeamListView.as_view(), name="teams"),
    path("teams/<int:pk>/", views.TeamDetailView.as_view(), name="team-detail"),
    path("teams/<int:pk>/queue/", views.TeamQueueView.as_view(), name="team-queue"),
    path("teams/<int:pk>/quota/", views.TeamQuotaView.as_view(), name="team-quota"),
    path("metrics/", metrics.MetricsView.as_view(), name="metrics"),
]
