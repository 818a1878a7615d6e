"""The REST API: one view per operation. Views translate HTTP to services and selectors and back.

Every read goes through a selector scoped to the caller's teams, so another team's pipeline or
run is a 404, not a 403. Writing needs the editor role (``CanWriteTeam``). Input serializers
reject malformed requests with field errors; a well-formed spec that is not a valid pipeline
comes back from the services as ``SpecInvalid``, which ``errors.py`` makes a 400 naming each
problem. Where one URL serves two operations, a route class at the end joins their views.
"""
from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.db import IntegrityError
from django.db.models import Prefetch
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from .. import dag, selectors, services
from ..limits import node_limits
from ..models import PipelineVersion
from ..spec import spec_from_dict
from . import artifacts, attempts, logs
from .errors import Conflict
from .parsers import JSONParser
from .permissions import CanWriteTeam
from .serializers import (
    AttemptSerializer,
    LogChunkSerializer,
    LoginSerializer,
    LogQuerySerializer,
    PipelineCreateSerializer,
    PipelineDetailSerializer,
    PipelineListQuerySerializer,
    PipelineSerializer,
    PlanSerializer,
    RunDetailSerializer,
    RunListQuerySerializer,
    RunSerializer,
    RunSubmitSerializer,
    SessionSerializer,
    SpecValidateSerializer,
    TokenSerializer,
    VersionDetailSerializer,
    VersionSaveSerializer,
    VersionSerializer,
    VersionWithSpecSerializer,
    name_taken,
)


def _validated(serializer_class, data, request=None) -> dict:
    serializer = serializer_class(data=data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _user(user) -> dict | None:
    return {"id": user.pk, "username": user.get_username()} if user.is_authenticated else None


class ApiView(GenericAPIView):
    permission_classes = [IsAuthenticated, CanWriteTeam]
    parser_classes = [JSONParser]  # a spec is nested JSON; forms cannot carry it


# -- auth --------------------------------------------------------------------------------------


class SessionView(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["auth"], responses=SessionSerializer, summary="Who is signed in; sets the csrftoken cookie")
    def get(self, request):
        get_token(request._request)  # the single-page app sends it back as X-CSRFToken
        return Response({"user": _user(request.user)})


class LoginView(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["auth"], request=LoginSerializer,
                   responses={200: SessionSerializer, 400: OpenApiResponse(description="Wrong username or password.")},
                   summary="Sign in with a session (needs the csrftoken cookie and X-CSRFToken header)")
    def post(self, request):
        # DRF exempts anonymous requests from CSRF; a login is one, and login CSRF is real.
        SessionAuthentication().enforce_csrf(request)
        data = _validated(LoginSerializer, request.data)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None:
            return Response({"detail": "Wrong username or password."}, status=status.HTTP_400_BAD_REQUEST)
        login(request._request, user)
        return Response({"user": _user(user)})


class TokenView(ObtainAuthToken):
    """DRF's obtain_auth_token: ``{"username", "password"}`` -> ``{"token"}``."""

    parser_classes = [FormParser, MultiPartParser, JSONParser]

    @extend_schema(tags=["auth"], request=AuthTokenSerializer, responses=TokenSerializer,
                   summary="A token for scripts: send it as 'Authorization: Token <token>'")
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["auth"], request=None, responses={204: None}, summary="Sign out of the session")
    def post(self, request):
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- pipelines ---------------------------------------------------------------------------------


def _newest_versions(limit: int | None = None) -> Prefetch:
    versions = PipelineVersion.objects.select_related("created_by").defer("spec").order_by("-number")
    return Prefetch("versions", queryset=versions[:limit] if limit else versions, to_attr="newest_versions")


def _pipeline(user, pk: int, *, with_versions: bool = False):
    pipelines = selectors.pipelines_for(user)
    if with_versions:
        pipelines = pipelines.prefetch_related(_newest_versions())
    return get_object_or_404(pipelines, pk=pk)


class PipelineListView(ApiView):
    @extend_schema(parameters=[PipelineListQuerySerializer], responses=PipelineSerializer(many=True),
                   summary="Pipelines of your teams")
    def get(self, request):
        query = _validated(PipelineListQuerySerializer, request.query_params)
        pipelines = selectors.pipelines_for(request.user).prefetch_related(_newest_versions(limit=1))
        if "team" in query:
            pipelines = pipelines.filter(team_id=query["team"])
        page = self.paginate_queryset(pipelines)
        return self.get_paginated_response(PipelineSerializer(page, many=True).data)


class PipelineCreateView(ApiView):
    @extend_schema(request=PipelineCreateSerializer, responses={201: PipelineDetailSerializer},
                   summary="Create a pipeline with its first version (editor)")
    def post(self, request):
        data = _validated(PipelineCreateSerializer, request.data, request)
        self.check_object_permissions(request, data["team"])
        try:
            pipeline = services.create_pipeline(
                team=data["team"], name=data["name"], spec=data["spec"], user=request.user,
                description=data.get("description", ""), message=data.get("message", ""), limits=node_limits(),
            )
        except IntegrityError:  # created meanwhile by someone else
            raise ValidationError(name_taken(data["team"], data["name"])) from None
        pipeline = _pipeline(request.user, pipeline.pk, with_versions=True)
        return Response(PipelineDetailSerializer(pipeline).data, status=status.HTTP_201_CREATED)


class PipelineDetailView(ApiView):
    @extend_schema(responses=PipelineDetailSerializer, summary="A pipeline with its latest spec and versions")
    def get(self, request, pk: int):
        return Response(PipelineDetailSerializer(_pipeline(request.user, pk, with_versions=True)).data)


class PipelineValidateView(ApiView):
    @extend_schema(request=SpecValidateSerializer, responses=PlanSerializer,
                   summary="Every problem of a spec, and its plan (layers, critical path)")
    def post(self, request):
        data = _validated(SpecValidateSerializer, request.data)
        return Response(dag.plan(spec_from_dict(data["spec"]), node_limits()))


class VersionListView(ApiView):
    @extend_schema(responses=VersionSerializer(many=True), summary="A pipeline's versions, newest first")
    def get(self, request, pk: int):
        pipeline = _pipeline(request.user, pk)
        versions = pipeline.versions.select_related("created_by").defer("spec").order_by("-number")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(VersionSerializer(page, many=True).data)


class VersionSaveView(ApiView):
    @extend_schema(request=VersionSaveSerializer, responses={201: VersionWithSpecSerializer},
                   summary="Save a new version (editor); older versions never change")
    def post(self, request, pk: int):
        pipeline = _pipeline(request.user, pk)
        self.check_object_permissions(request, pipeline)
        data = _validated(VersionSaveSerializer, request.data)
        version = services.save_version(pipeline, spec=data["spec"], user=request.user,
                                        message=data.get("message", ""), limits=node_limits())
        return Response(VersionWithSpecSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(ApiView):
    @extend_schema(responses=VersionDetailSerializer, summary="One version with its spec and plan")
    def get(self, request, pk: int, number: int):
        pipeline = _pipeline(request.user, pk)
        version = get_object_or_404(pipeline.versions.select_related("created_by"), number=number)
        plan = dag.plan(spec_from_dict(version.spec), node_limits())
        return Response(VersionDetailSerializer(version, context={"plan": plan}).data)


# -- runs --------------------------------------------------------------------------------------


def _run(user, pk: int):
    return get_object_or_404(selectors.runs_for(user), pk=pk)


class RunListView(ApiView):
    @extend_schema(parameters=[RunListQuerySerializer], responses=RunSerializer(many=True),
                   summary="Runs of your teams, newest first")
    def get(self, request):
        query = _validated(RunListQuerySerializer, request.query_params)
        runs = selectors.runs_for(request.user).defer("spec", "parameters", "version__spec")
        if "pipeline" in query:
            runs = runs.filter(pipeline_id=query["pipeline"])
        if "status" in query:
            runs = runs.filter(status=query["status"])
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(RunSerializer(page, many=True).data)


class RunSubmitView(ApiView):
    @extend_schema(request=RunSubmitSerializer, responses={201: RunDetailSerializer},
                   summary="Run a version of a pipeline (editor); its root steps are queued")
    def post(self, request):
        data = _validated(RunSubmitSerializer, request.data, request)
        self.check_object_permissions(request, data["pipeline"])
        run = services.submit_run(
            data["pipeline"], user=request.user, now=timezone.now(), version=data.get("version"),
            parameters=data.get("parameters"), priority=data.get("priority", 0), limits=node_limits(),
        )
        return Response(RunDetailSerializer(_run(request.user, run.pk)).data, status=status.HTTP_201_CREATED)


class RunDetailView(ApiView):
    @extend_schema(responses=RunDetailSerializer, summary="A run with its spec and step runs")
    def get(self, request, pk: int):
        return Response(RunDetailSerializer(_run(request.user, pk)).data)


class RunCancelView(ApiView):
    @extend_schema(request=None, responses={202: RunDetailSerializer,
                                            409: OpenApiResponse(description="The run has finished already.")},
                   summary="Cancel a run and every unfinished step (editor)")
    def post(self, request, pk: int):
        run = _run(request.user, pk)
        self.check_object_permissions(request, run)
        is_cancelled = services.cancel_run(run.pk, now=timezone.now())
        run = _run(request.user, pk)
        if not is_cancelled:
            raise Conflict(f"run {run.pk} is already {run.status}")
        return Response(RunDetailSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunRetryView(ApiView):
    @extend_schema(request=None, responses={202: RunDetailSerializer,
                                            409: OpenApiResponse(description="The run is not failed or cancelled.")},
                   summary="Retry a failed or cancelled run from failure (editor): its failed, cancelled and "
                           "skipped steps run again, succeeded ones keep their outputs")
    def post(self, request, pk: int):
        run = _run(request.user, pk)
        self.check_object_permissions(request, run)
        is_retried = services.retry_run(run.pk, now=timezone.now(), user=request.user)
        run = _run(request.user, pk)
        if not is_retried:
            raise Conflict(f"run {run.pk} is {run.status}; only a failed or cancelled run with a step left "
                           f"to run can be retried")
        return Response(RunDetailSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _step_run(run, step: str):
    step_run = selectors.step_runs_of(run).filter(step_name=step).first()
    if step_run is None:
        raise Http404(f"run {run.pk} has no step {step!r}")
    return step_run


class StepLogView(ApiView):
    @extend_schema(parameters=[LogQuerySerializer], responses=LogChunkSerializer,
                   summary="A chunk of a step's log (its latest attempt's, or ?attempt=<n>), from a byte offset")
    def get(self, request, pk: int, step: str):
        step_run = _step_run(_run(request.user, pk), step)
        query = _validated(LogQuerySerializer, request.query_params)
        path, is_final = logs.attempt_log(step_run, query.get("attempt"))
        chunk = logs.read_chunk(path, offset=query["offset"], limit=query["limit"], is_final=is_final)
        return Response(chunk)


class StepAttemptsView(ApiView):
    pagination_class = None  # a handful of attempts, all at once

    @extend_schema(responses={200: AttemptSerializer(many=True),
                              404: OpenApiResponse(description="No such run (in your teams) or step.")},
                   summary="A step's attempts, oldest first: each one's status, times, exit code, reason and "
                           "admissions (a preempted attempt is admitted again)")
    def get(self, request, pk: int, step: str):
        step_run = _step_run(_run(request.user, pk), step)
        return Response(AttemptSerializer(attempts.attempts_of(step_run), many=True).data)


class ArtifactView(ApiView):
    @extend_schema(responses={200: OpenApiResponse(description="The artifact's JSON content, as the step wrote it."),
                              404: OpenApiResponse(description="No such step or output, not written yet, not "
                                                               "JSON, or larger than 1 MB.")},
                   summary="A step's output, when it is a JSON file of at most 1 MB (metrics, say)")
    def get(self, request, pk: int, step: str, output: str):
        run = _run(request.user, pk)
        _step_run(run, step)
        declared = next((s.get("outputs", []) for s in run.spec.get("steps", []) if s.get("name") == step), [])
        if output not in declared:
            raise Http404(f"step {step!r} declares no output {output!r}")
        try:
            return Response(artifacts.read_json(run.workdir, step, output))
        except artifacts.NotReadable as exc:
            raise Http404(str(exc)) from None


# -- routes: one URL, one view per HTTP method -------------------------------------------------


class PipelinesRoute(PipelineListView, PipelineCreateView):  # /api/pipelines/
    pass


class VersionsRoute(VersionListView, VersionSaveView):  # /api/pipelines/<id>/versions/
    pass


class RunsRoute(RunListView, RunSubmitView):  # /api/runs/
    pass
