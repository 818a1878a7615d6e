from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from pipelines.views import app_page
from scheduling.api.metrics import PrometheusMetricsView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("pipelines.api.urls")),
    path("api/", include("scheduling.api.urls")),
    path("metrics", PrometheusMetricsView.as_view(), name="prometheus-metrics"),
    re_path(r"^(?:login|runs(?:/.*)?|pipelines(?:/.*)?|teams(?:/.*)?)?/?$", app_page, name="app"),
]
