"""What the API reads (input serializers: shape and type only) and what it answers (output).

Input serializers check that a request is well formed: a spec is an object whose ``steps`` is a
list of objects with fields of the right JSON types and sane sizes. Whether a well-formed spec
makes a valid pipeline (names, cycles, producers, node limits) is ``dag.validate``'s question,
answered through ``services.SpecInvalid`` or the validate endpoint's plan.

The strict fields refuse what DRF would quietly coerce (``"5"`` for a number, ``5`` for a
string, ``true`` for an id): a spec is data the editor saved, so a wrong type is a mistake.
"""
from __future__ import annotations

import math
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import selectors, states
from ..models import PipelineVersion, Run, StepRun

# Sizes a well-formed request stays within; they keep every value storable and every answer
# JSON-plain (a sum of estimates never overflows to infinity).
MAX_STEPS = 500
MAX_ITEMS = 200  # entries of one list or object inside a step
MAX_TEXT = 10_000
MAX_NAME = 253  # longer than any valid name, so validation can still say what is wrong
MAX_INT = 2**31 - 1  # what every integer column holds
MAX_ID = 2**63 - 1  # the largest primary key a database holds
MAX_FLOAT = 1e9
MAX_RETRIES = 100
MAX_PARAMETERS = 100
MAX_SAFE_INT = 2**53  # exact in JavaScript
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def echoed(key: str) -> str:
    """A key of the request as an error may name it: short, and encodable as UTF-8."""
    return key[:MAX_NAME].encode("utf-8", "backslashreplace").decode("utf-8")


# -- strict fields -----------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (``2.0`` is accepted as 2); never a string or a boolean."""

    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return int(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number; never a string or a boolean."""

    default_error_messages = {"invalid": "Must be a finite number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class KeyedDictField(serializers.DictField):
    """A JSON object whose keys are checked too (length, no NUL or lone surrogates)."""

    default_error_messages = {"max_length": "Ensure this object has no more than {max_length} entries."}

    def __init__(self, *, key_max_length: int = MAX_NAME, max_length: int = MAX_ITEMS, **kwargs):
        self.key_field = StrictCharField(max_length=key_max_length, allow_blank=True)
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return value

    def run_child_validation(self, data):
        errors: dict[str, Any] = {}
        for key in data:
            try:
                self.key_field.run_validation(key)
            except serializers.ValidationError as exc:
                errors[echoed(str(key))] = [f"Invalid key: {m}" for m in exc.detail]
        if errors:
            raise serializers.ValidationError(errors)
        return super().run_child_validation(data)


def _text(max_length: int = MAX_TEXT, **kwargs) -> StrictCharField:
    return StrictCharField(max_length=max_length, allow_blank=True, trim_whitespace=False, **kwargs)


def _int(**kwargs) -> StrictIntegerField:
    kwargs.setdefault("min_value", -MAX_INT)
    kwargs.setdefault("max_value", MAX_INT)
    return StrictIntegerField(required=False, **kwargs)


def _float(**kwargs) -> StrictFloatField:
    return StrictFloatField(required=False, min_value=-MAX_FLOAT, max_value=MAX_FLOAT, **kwargs)


def _names(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=_text(MAX_NAME), max_length=MAX_ITEMS, required=False, **kwargs)


# -- the spec, as it arrives ------------------------------------------------------------------


class ResourcesSerializer(serializers.Serializer):
    cpu = _float()
    memory_mb = _int()
    gpu = _int()
    gpu_class = _text(63, required=False, allow_null=True)


class PositionSerializer(serializers.Serializer):
    x = _float()
    y = _float()


class StepSerializer(serializers.Serializer):
    """One step of a spec (see ``pipelines.spec``); omitted fields take the spec's defaults."""

    name = _text(MAX_NAME)
    type = _text(MAX_NAME, required=False)
    image = StrictCharField(max_length=300, required=False)
    command = serializers.ListField(child=_text(), max_length=MAX_ITEMS, required=False)
    env = KeyedDictField(child=_text(), required=False)
    resources = ResourcesSerializer(required=False)
    inputs = KeyedDictField(child=_text(MAX_NAME), required=False, help_text="local name -> 'producer.output'")
    outputs = _names()
    depends_on = _names()
    retries = _int(max_value=MAX_RETRIES)
    timeout_s = _int()
    estimate_s = _float(allow_null=True)
    gang = _int(help_text="Pods started together, all or nothing (distributed training).")
    preemptible = serializers.BooleanField(required=False)
    node_selector = KeyedDictField(child=_text(63), required=False, help_text="Node labels it must run on.")
    position = PositionSerializer(required=False)


class SpecSerializer(serializers.Serializer):
    """A pipeline spec: ``{"steps": [...], "excludes": [...]}``. Other top-level keys are ignored."""

    steps = StepSerializer(many=True, max_length=MAX_STEPS)
    excludes = _names(help_text="Pipelines (by name) a run of this one must never run beside.")


@extend_schema_field(SpecSerializer)
class SpecField(serializers.JSONField):
    """A stored spec, answered as saved."""


# -- run parameters ---------------------------------------------------------------------------


@extend_schema_field({
    "type": "object",
    "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
                             "nullable": True},
    "description": "Flat: identifier keys, scalar values. Steps see them as TRELLIS_PARAM_<KEY>.",
})
class ParametersField(serializers.Field):
    default_error_messages = {
        "not_a_dict": "Must be an object of parameter names to scalar values.",
        "max_length": f"Ensure there are no more than {MAX_PARAMETERS} parameters.",
    }

    def __init__(self, **kwargs):
        self.text = _text()
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict")
        if len(data) > MAX_PARAMETERS:
            self.fail("max_length")
        errors: dict[str, list[str]] = {}
        seen: dict[str, str] = {}  # as an environment name -> the key that took it
        for key, value in data.items():
            problem = self._key_problem(key, seen) or self._value_problem(value)
            if problem:
                errors[echoed(key)] = [problem]
        if errors:
            raise serializers.ValidationError(errors)
        return dict(data)

    def to_representation(self, value):
        return value

    @staticmethod
    def _key_problem(key: str, seen: dict[str, str]) -> str | None:
        if len(key) > 100 or not IDENTIFIER.fullmatch(key):
            return "A parameter name must be an identifier: letters, digits and '_', not starting with a digit."
        other = seen.setdefault(key.upper(), key)
        if other != key:
            return f"Parameters {other!r} and {key!r} would both be TRELLIS_PARAM_{key.upper()}."
        return None

    def _value_problem(self, value: Any) -> str | None:
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, int):
            return None if abs(value) <= MAX_SAFE_INT else f"Must be between -{MAX_SAFE_INT} and {MAX_SAFE_INT}."
        if isinstance(value, float):
            return None if math.isfinite(value) else "Must be a finite number."
        if isinstance(value, str):
            try:
                self.text.run_validation(value)
            except serializers.ValidationError as exc:
                return str(exc.detail[0])
            return None
        return "Must be a string, number, boolean or null (not a list or object)."


# -- requests ---------------------------------------------------------------------------------


class LoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


def name_taken(team, name: str) -> dict[str, list[str]]:
    return {"name": [f"Team {team.name} already has a pipeline named {name!r}."]}


class PipelineCreateSerializer(serializers.Serializer):
    team = StrictIntegerField(min_value=1, max_value=MAX_ID, help_text="A team you belong to (editor to create).")
    name = serializers.SlugField(max_length=63)
    description = _text(required=False)
    spec = SpecSerializer()
    message = _text(500, required=False)

    def validate_team(self, team_id: int):
        team = selectors.teams_for(self.context["request"].user).filter(pk=team_id).first()
        if team is None:
            raise serializers.ValidationError("No such team.")
        return team

    def validate(self, data):
        if data["team"].pipelines.filter(name=data["name"]).exists():
            raise serializers.ValidationError(name_taken(data["team"], data["name"]))
        return data


class VersionSaveSerializer(serializers.Serializer):
    spec = SpecSerializer()
    message = _text(500, required=False)


class SpecValidateSerializer(serializers.Serializer):
    spec = SpecSerializer()


class RunSubmitSerializer(serializers.Serializer):
    pipeline = StrictIntegerField(min_value=1, max_value=MAX_ID)
    version = StrictIntegerField(min_value=1, max_value=MAX_INT, required=False, help_text="Default: the latest.")
    parameters = ParametersField(required=False)
    priority = StrictIntegerField(min_value=-MAX_INT, max_value=MAX_INT, required=False)

    def validate_pipeline(self, pipeline_id: int):
        pipeline = selectors.pipelines_for(self.context["request"].user).filter(pk=pipeline_id).first()
        if pipeline is None:
            raise serializers.ValidationError("No such pipeline.")
        return pipeline

    def validate(self, data):
        if "version" in data:
            version = data["pipeline"].versions.filter(number=data["version"]).first()
            if version is None:
                message = f"Pipeline {data['pipeline'].name} has no version {data['version']}."
                raise serializers.ValidationError({"version": [message]})
            data["version"] = version
        return data


class PipelineListQuerySerializer(serializers.Serializer):
    team = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class RunListQuerySerializer(serializers.Serializer):
    pipeline = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    status = serializers.ChoiceField(choices=states.RUN_STATES, required=False)


LOG_CHUNK_MAX = 1024 * 1024


class LogQuerySerializer(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, max_value=2**53, default=0, help_text="A byte offset.")
    limit = serializers.IntegerField(min_value=1, max_value=LOG_CHUNK_MAX, default=LOG_CHUNK_MAX,
                                     help_text="At most this many bytes.")
    attempt = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False,
                                       help_text="Which attempt's log (1-based); the latest when absent.")


# -- answers ----------------------------------------------------------------------------------


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class SessionSerializer(serializers.Serializer):
    user = UserSerializer(allow_null=True, read_only=True)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class PipelineRefSerializer(TeamRefSerializer):
    pass


def _username() -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)


class VersionSerializer(serializers.ModelSerializer):
    created_by = _username()

    class Meta:
        model = PipelineVersion
        fields = ["number", "message", "created_by", "created_at"]
        read_only_fields = fields


class VersionWithSpecSerializer(VersionSerializer):
    spec = SpecField(read_only=True)

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "spec"]
        read_only_fields = fields


class ProblemSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    steps = serializers.ListField(child=serializers.CharField())
    severity = serializers.ChoiceField(choices=["error", "warning"])
    field = serializers.CharField(help_text="Where in the spec, e.g. 'steps[2].inputs.data'; may be empty.")


class CriticalPathSerializer(serializers.Serializer):
    steps = serializers.ListField(child=serializers.CharField())
    estimated_s = serializers.FloatField()


class PlanSerializer(serializers.Serializer):
    """``dag.plan``: every problem, and the order of steps whenever the graph has one."""

    problems = ProblemSerializer(many=True)
    is_valid = serializers.BooleanField()
    layers = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    critical_path = CriticalPathSerializer(allow_null=True)


@extend_schema_field(PlanSerializer)
class PlanField(serializers.JSONField):
    pass


class VersionDetailSerializer(VersionWithSpecSerializer):
    """A version with its spec and ``plan`` (given in the context: it depends on the cluster)."""

    plan = serializers.SerializerMethodField()

    class Meta(VersionWithSpecSerializer.Meta):
        fields = [*VersionWithSpecSerializer.Meta.fields, "plan"]
        read_only_fields = fields

    @extend_schema_field(PlanSerializer)
    def get_plan(self, version) -> dict:
        return self.context["plan"]


class PipelineSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    team = TeamRefSerializer(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    latest_version = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(VersionSerializer(allow_null=True))
    def get_latest_version(self, pipeline) -> dict | None:
        versions = newest_versions(pipeline)
        return VersionSerializer(versions[0]).data if versions else None


def newest_versions(pipeline) -> list[PipelineVersion]:
    """The pipeline's versions newest first, as prefetched into ``newest_versions`` if they were."""
    prefetched = getattr(pipeline, "newest_versions", None)
    if prefetched is not None:
        return prefetched
    return list(pipeline.versions.select_related("created_by").defer("spec").order_by("-number"))


class PipelineDetailSerializer(PipelineSerializer):
    spec = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    @extend_schema_field(SpecSerializer(allow_null=True))
    def get_spec(self, pipeline) -> dict | None:
        return pipeline.versions.order_by("-number").values_list("spec", flat=True).first()

    @extend_schema_field(VersionSerializer(many=True))
    def get_versions(self, pipeline) -> list[dict]:
        return VersionSerializer(newest_versions(pipeline), many=True).data


class RunSerializer(serializers.ModelSerializer):
    pipeline = PipelineRefSerializer(read_only=True)
    team = TeamRefSerializer(read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True, help_text="The version's number.")
    created_by = _username()

    class Meta:
        model = Run
        fields = ["id", "pipeline", "team", "version", "status", "reason", "created_by", "created_at",
                  "started_at", "finished_at"]
        read_only_fields = fields


class StepRunSerializer(serializers.ModelSerializer):
    step = serializers.CharField(source="step_name", read_only=True)

    class Meta:
        model = StepRun
        fields = ["id", "step", "status", "attempt", "max_attempts", "queued_at", "started_at", "finished_at",
                  "exit_code", "reason", "node"]
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    """A run with its spec snapshot and step runs in spec order; also the websocket snapshot."""

    spec = SpecField(read_only=True)
    parameters = ParametersField(read_only=True)
    step_runs = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "spec", "parameters", "priority", "last_seq", "workdir", "step_runs"]
        read_only_fields = fields

    @extend_schema_field(StepRunSerializer(many=True))
    def get_step_runs(self, run) -> list[dict]:
        position = {step.get("name"): i for i, step in enumerate(run.spec.get("steps", []))}
        rows = sorted(selectors.step_runs_of(run), key=lambda sr: (position.get(sr.step_name, len(position)), sr.pk))
        return StepRunSerializer(rows, many=True).data


class LogChunkSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="UTF-8 decoded; undecodable bytes become U+FFFD.")
    offset = serializers.IntegerField(help_text="The byte offset this text starts at.")
    next_offset = serializers.IntegerField(help_text="Ask from here next time.")
    is_complete = serializers.BooleanField(help_text="The step has finished and this is the end of its log.")


class AttemptSerializer(serializers.Serializer):
    """One attempt of a step, told from its events (``attempts.summarise``)."""

    attempt = serializers.IntegerField(help_text="1-based; a retry is a new attempt, a preemption is not.")
    status = serializers.ChoiceField(choices=states.STEP_STATES, help_text="Its final or current status.")
    queued_at = serializers.DateTimeField(allow_null=True, help_text="When it first became ready to run.")
    started_at = serializers.DateTimeField(allow_null=True, help_text="When it first started running.")
    finished_at = serializers.DateTimeField(allow_null=True, help_text="When it ended; null while it has not.")
    node = serializers.CharField(allow_null=True, help_text="Where the latest attempt runs or ran; null for "
                                                            "earlier attempts (their events do not record it).")
    exit_code = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True, help_text="Why it is in its status: a failure's cause, say.")
    admissions = serializers.IntegerField(help_text="Times it was admitted: more than 1 after a preemption.")
