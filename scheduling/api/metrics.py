"""Scheduling metrics over HTTP: ``GET /api/metrics/`` (JSON) and ``GET /metrics`` (Prometheus).

The JSON shows platform admins (``is_staff``) every team and others their own teams; the
cluster's utilisation and Jain's index are the whole cluster's for everyone. The Prometheus
endpoint names every team, so it is for platform admins only: a session, or an API token
(``Authorization: Token <key>`` in the scrape config's ``authorization`` section).

The exposition is made at scrape time by a collector that reads the database
(``scheduling.metrics.collect``); nothing is kept in the process between scrapes, so every web
process answers alike.
"""
from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from pipelines import selectors

from .. import metrics
from ..core.types import Capacity
from ..executors import get_executor

DEFAULT_WINDOW_S = 3600.0
MAX_WINDOW_S = 90 * 24 * 3600.0


class MetricsQuerySerializer(serializers.Serializer):
    window_s = serializers.FloatField(
        required=False, default=DEFAULT_WINDOW_S, min_value=1.0, max_value=MAX_WINDOW_S,
        help_text="How far back delays, completion times and fairness look, in seconds (default one hour).",
    )


class DistributionSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sum_s = serializers.FloatField()
    mean_s = serializers.FloatField(allow_null=True)
    p50_s = serializers.FloatField(allow_null=True)
    p95_s = serializers.FloatField(allow_null=True)


class ResourceUseSerializer(serializers.Serializer):
    resource = serializers.CharField(help_text="cpu, memory_mb, gpu, or gpu/<class>.")
    held = serializers.FloatField(help_text="Held now by admitted, running and stopping step runs.")
    capacity = serializers.FloatField(allow_null=True, help_text="Null: the cluster does not report it.")
    utilisation = serializers.FloatField(allow_null=True, help_text="held / capacity.")


class TeamMetricsSerializer(serializers.Serializer):
    team = serializers.CharField()
    queueing_delay = DistributionSerializer(help_text="Ready to admitted, step runs admitted in the window.")
    completion_time = DistributionSerializer(help_text="Created to finished, runs that ended in the window.")
    held = serializers.DictField(child=serializers.FloatField(), help_text="Resource key -> held now.")
    service_ratio = serializers.FloatField(
        allow_null=True, help_text="Share of its step runs' ready time in the window spent running (1: no waiting, "
                                   "0: starved); null: nothing of it was ready in the window.")
    step_runs = serializers.DictField(child=serializers.IntegerField(), help_text="Status -> step runs not final.")


class MetricsSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    window_s = serializers.FloatField()
    queueing_delay = DistributionSerializer(help_text="Over the teams shown.")
    completion_time = DistributionSerializer(help_text="Over the teams shown.")
    teams = TeamMetricsSerializer(many=True)
    utilisation = ResourceUseSerializer(many=True, help_text="The whole cluster.")
    jain = serializers.FloatField(allow_null=True,
                                  help_text="Jain's fairness index over all teams' service ratios: 1 when even, "
                                            "1/n when one team of n is served and the others starved.")
    fairness_teams = serializers.IntegerField(help_text="Teams the index is over.")


def _capacity():
    return get_executor().capacity()  # asked outside any transaction, like dispatch does


class MetricsView(GenericAPIView):
    @extend_schema(
        parameters=[MetricsQuerySerializer],
        responses={200: MetricsSerializer, 400: OpenApiResponse(description="window_s is not a number in range.")},
        summary="Queueing delay, completion time, utilisation and fairness",
        description="Platform admins see every team; others see their own teams. Utilisation and Jain's index "
                    "are the whole cluster's.",
    )
    def get(self, request):
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = request.user
        teams = None if user.is_staff else selectors.teams_for(user).values_list("name", flat=True)
        found = metrics.collect(capacity=_capacity(), now=timezone.now(), window_s=query.validated_data["window_s"],
                                teams=teams)
        return Response(MetricsSerializer(found).data)


# ------------------------------------------------------------------------------ Prometheus


class TrellisCollector:
    """Reads the metrics from the database whenever the registry is collected (at scrape time)."""

    def __init__(self, *, window_s: float = DEFAULT_WINDOW_S, capacity: Capacity | None = None,
                 now: datetime | None = None) -> None:
        self.window_s = window_s
        self.capacity = capacity  # None: the executor's, at scrape time
        self.now = now  # None: the time of the scrape

    def collect(self):
        found = metrics.collect(capacity=self.capacity or _capacity(), now=self.now or timezone.now(),
                                window_s=self.window_s)
        yield _summary("trellis_queueing_delay_seconds",
                       f"Seconds from entering the queue to admission, of admissions in the last {self.window_s:g} s.",
                       {t.team: t.queueing_delay for t in found.teams})
        yield _summary("trellis_run_completion_seconds",
                       f"Seconds from creation to end, of runs that ended in the last {self.window_s:g} s.",
                       {t.team: t.completion_time for t in found.teams})
        held = GaugeMetricFamily("trellis_resource_held", "Held now by admitted, running and stopping step runs.",
                                 labels=["resource"])
        capacity = GaugeMetricFamily("trellis_resource_capacity", "What the cluster has.", labels=["resource"])
        used = GaugeMetricFamily("trellis_resource_utilisation_ratio", "Held / capacity.", labels=["resource"])
        for r in found.utilisation:
            held.add_metric([r.resource], r.held)
            if r.capacity is not None:
                capacity.add_metric([r.resource], r.capacity)
            if r.utilisation is not None:
                used.add_metric([r.resource], r.utilisation)
        yield from (held, capacity, used)
        team_held = GaugeMetricFamily("trellis_team_resource_held", "Held now by a team's step runs.",
                                      labels=["team", "resource"])
        step_runs = GaugeMetricFamily("trellis_step_runs", "Step runs not final, by team and status.",
                                      labels=["team", "status"])
        service = GaugeMetricFamily(
            "trellis_team_service_ratio",
            f"Share of a team's step runs' ready time in the last {self.window_s:g} s spent running (1: no waiting).",
            labels=["team"])
        for t in found.teams:
            for key, value in sorted(t.held.items()):
                team_held.add_metric([t.team, key], value)
            for status, n in sorted(t.step_runs.items()):
                step_runs.add_metric([t.team, status], n)
            if t.service_ratio is not None:
                service.add_metric([t.team], t.service_ratio)
        yield from (team_held, step_runs, service)
        if found.jain is not None:
            yield GaugeMetricFamily("trellis_fairness_jain_index",
                                    "Jain's fairness index over the teams' service ratios (1: even, 1/n: one team "
                                    "of n served).", value=found.jain)


def _summary(name: str, documentation: str, by_team: dict[str, metrics.Distribution]) -> Metric:
    """A summary per team: its median and 95th percentile, count and sum over the window."""
    family = Metric(name, documentation, "summary")
    for team, d in sorted(by_team.items()):
        if d.count:
            family.add_sample(name, {"team": team, "quantile": "0.5"}, d.p50_s)
            family.add_sample(name, {"team": team, "quantile": "0.95"}, d.p95_s)
        family.add_sample(f"{name}_count", {"team": team}, d.count)
        family.add_sample(f"{name}_sum", {"team": team}, d.sum_s)
    return family


def exposition(*, window_s: float = DEFAULT_WINDOW_S, capacity: Capacity | None = None,
               now: datetime | None = None) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of the metrics as of ``now`` (default: now)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrellisCollector(window_s=window_s, capacity=capacity, now=now))
    return generate_latest(registry)


class PrometheusRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "prometheus"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, bytes):
            return data
        return "".join(f"# {line}\n" for line in _refusal_lines(data)).encode()  # a refusal, said as comments


def _refusal_lines(data) -> list[str]:
    """``{"detail": "..."}`` or field errors ``{"window_s": ["..."]}`` as plain lines."""
    if not isinstance(data, dict):
        return [str(data)]
    if "detail" in data:
        return [str(data["detail"])]
    return [f"{field}: {' '.join(str(m) for m in (messages if isinstance(messages, list) else [messages]))}"
            for field, messages in data.items()]


class TextOnly(BaseContentNegotiation):
    """Prometheus asks for OpenMetrics first; the text format 0.0.4 is always answered."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], CONTENT_TYPE_PLAIN_0_0_4


class IsPlatformAdmin(BasePermission):
    message = "Only platform admins may read the cluster's metrics: they name every team."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_staff)


class PrometheusMetricsView(GenericAPIView):
    permission_classes = [IsPlatformAdmin]
    renderer_classes = [PrometheusRenderer]
    content_negotiation_class = TextOnly

    @extend_schema(parameters=[MetricsQuerySerializer],
                   responses={(200, "text/plain"): OpenApiTypes.STR, 403: OpenApiResponse(description="Not a platform admin.")},
                   summary="Prometheus text exposition of the scheduling metrics (platform admins)")
    def get(self, request):
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(exposition(window_s=query.validated_data["window_s"]), content_type=CONTENT_TYPE_PLAIN_0_0_4)
