"""Teams as their members see them: one view per operation.

Members read their teams and queues; a team's admins also read its quota; platform admins
(``is_staff``) see every team, its queue and quota, member or not (their role in a team they
are not a member of is null), and change every team's quota. A team the caller cannot see is a
404.
"""
from __future__ import annotations

from django.db.models import Exists, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from pipelines import selectors

from .. import queue
from ..executors import get_executor
from ..models import Cohort, GpuClass, Membership, Quota, Team
from .quotas import capacity_warnings, save_quota
from .serializers import QuotaAnswerSerializer, QuotaSerializer, TeamQueueSerializer, TeamSerializer

NOT_YOURS = OpenApiResponse(description="Not a team of yours.")


def visible_teams(user):
    """The teams the caller may see: their own, or every team for a platform admin."""
    return Team.objects.select_related("quota") if user.is_staff else selectors.teams_for(user)


def _teams(user):
    """The teams the caller may see, each annotated with the caller's ``role`` (null: not a
    member); a platform admin's own teams come first."""
    mine = Membership.objects.filter(team=OuterRef("pk"), user=user)
    teams = visible_teams(user).annotate(role=Subquery(mine.values("role")[:1]))
    if user.is_staff:
        teams = teams.annotate(is_member=Exists(mine)).order_by("-is_member", "name")
    return teams


class TeamListView(GenericAPIView):
    @extend_schema(responses=TeamSerializer(many=True), summary="Your teams, your role and their quotas",
                   description="Platform admins get every team, theirs first.")
    def get(self, request):
        page = self.paginate_queryset(_teams(request.user))
        return self.get_paginated_response(TeamSerializer(page, many=True, context={"request": request}).data)


class TeamDetailView(GenericAPIView):
    @extend_schema(responses={200: TeamSerializer, 404: NOT_YOURS}, summary="One of your teams")
    def get(self, request, pk: int):
        team = get_object_or_404(_teams(request.user), pk=pk)
        return Response(TeamSerializer(team, context={"request": request}).data)


def queue_payload(team: Team) -> dict:
    """The team's queue as JSON-plain data: what the endpoint answers and the websocket sends."""
    return TeamQueueSerializer(queue.current_team_queue(team)).data


class TeamQueueView(GenericAPIView):
    @extend_schema(
        responses={200: TeamQueueSerializer, 404: NOT_YOURS},
        summary="The team's waiting step runs in admission order, why each waits, what runs, usage against quota",
        description="Computed by the scheduling core on the cluster as it is now, under the cluster's policy: "
                    "`position` is the place in the whole cluster's order; `reason` is why the step run waits "
                    "(or `admitted at the next dispatch`). Members of the team and platform admins.",
    )
    def get(self, request, pk: int):
        team = get_object_or_404(visible_teams(request.user), pk=pk)
        return Response(queue_payload(team))


class TeamQuotaView(GenericAPIView):
    """``GET``: the team's admins and platform admins. ``PUT``/``PATCH``: platform admins."""

    parser_classes = [JSONParser]
    serializer_class = QuotaSerializer

    def _team(self, request, pk: int) -> Team:
        user = request.user
        if user.is_staff:
            return get_object_or_404(Team, pk=pk)
        role = selectors.role_in(user, pk)
        if role is None:
            raise Http404("No team of yours has this id.")
        if request.method != "GET":
            raise PermissionDenied("Only platform admins may change quotas.")
        if role != Membership.ADMIN:
            raise PermissionDenied(f"Only the team's admins may read its quota; your role is {role}.")
        return Team.objects.get(pk=pk)

    @extend_schema(responses={200: QuotaAnswerSerializer, 403: OpenApiResponse(description="Not an admin."),
                              404: NOT_YOURS},
                   summary="The team's quota (team admins and platform admins)")
    def get(self, request, pk: int):
        return Response(self._answer(self._team(request, pk)))

    @extend_schema(request=QuotaSerializer,
                   responses={200: QuotaAnswerSerializer, 400: OpenApiResponse(description="Field errors."),
                              403: OpenApiResponse(description="Not a platform admin."), 404: NOT_YOURS},
                   summary="Replace the team's quota (platform admins); creates it if the team has none")
    def put(self, request, pk: int):
        return self._save(request, pk, partial=False)

    @extend_schema(request=QuotaSerializer(partial=True),
                   responses={200: QuotaAnswerSerializer, 400: OpenApiResponse(description="Field errors."),
                              403: OpenApiResponse(description="Not a platform admin."), 404: NOT_YOURS},
                   summary="Change some of the team's quota (platform admins)")
    def patch(self, request, pk: int):
        return self._save(request, pk, partial=True)

    def _save(self, request, pk: int, *, partial: bool):
        team = self._team(request, pk)
        current = Quota.objects.filter(team=team).first()
        serializer = QuotaSerializer(data=request.data, partial=partial and current is not None)
        serializer.is_valid(raise_exception=True)
        save_quota(team, dict(serializer.validated_data), partial=partial)
        return Response(self._answer(team))

    @staticmethod
    def _answer(team: Team) -> dict:
        quota = (Quota.objects.filter(team=team).select_related("cohort")
                 .prefetch_related("gpu_classes__gpu_class").first())
        return {
            "team": team.name,
            "quota": QuotaSerializer(quota).data if quota else None,
            "warnings": capacity_warnings(get_executor().capacity()),
            "cohorts": list(Cohort.objects.values_list("name", flat=True)),
            "gpu_classes": list(GpuClass.objects.values_list("name", flat=True)),
        }
