"""Teams as their members see them: one view per operation, reads only."""
from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from pipelines import selectors

from ..models import Membership
from .serializers import TeamSerializer


def _teams(user):
    """The caller's teams, each annotated with the caller's ``role``."""
    role = Membership.objects.filter(team=OuterRef("pk"), user=user).values("role")[:1]
    return selectors.teams_for(user).annotate(role=Subquery(role))


class TeamListView(GenericAPIView):
    @extend_schema(responses=TeamSerializer(many=True), summary="Your teams, your role and their quotas")
    def get(self, request):
        page = self.paginate_queryset(_teams(request.user))
        return self.get_paginated_response(TeamSerializer(page, many=True).data)


class TeamDetailView(GenericAPIView):
    @extend_schema(responses=TeamSerializer, summary="One of your teams")
    def get(self, request, pk: int):
        return Response(TeamSerializer(get_object_or_404(_teams(request.user), pk=pk)).data)
