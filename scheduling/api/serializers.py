"""What the teams endpoints answer, and the quota they accept."""
from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from ..models import Cohort, GpuClass, Membership, Quota, Team

MAX_COUNT = 2**31 - 1  # PositiveIntegerField's ceiling: beyond it the database would refuse
MAX_MEMORY_MB = 2**53  # far beyond any cluster, still exact in JSON numbers


class QuotaSummarySerializer(serializers.ModelSerializer):
    cpu = serializers.FloatField(read_only=True)

    class Meta:
        model = Quota
        fields = ["cpu", "memory_mb", "gpu"]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    """A team of the caller's, with the caller's ``role`` in it (annotated by the view) and what
    the caller may do with its quota (team admins read it, platform admins change it)."""

    role = serializers.ChoiceField(choices=Membership.ROLES, read_only=True, allow_null=True,
                                   help_text="Your role in the team; null: you are a platform admin, not a member.")
    quota = QuotaSummarySerializer(read_only=True, allow_null=True)
    can_read_quota = serializers.SerializerMethodField(help_text="You may read the quota settings.")
    can_edit_quota = serializers.SerializerMethodField(help_text="You may change the quota (platform admins).")

    class Meta:
        model = Team
        fields = ["id", "name", "display_name", "role", "quota", "can_read_quota", "can_edit_quota"]
        read_only_fields = fields

    def _is_staff(self) -> bool:
        request = self.context.get("request")
        return bool(request and request.user.is_staff)

    def get_can_read_quota(self, team) -> bool:
        return self._is_staff() or getattr(team, "role", None) == Membership.ADMIN

    def get_can_edit_quota(self, team) -> bool:
        return self._is_staff()


# -- the team queue ---------------------------------------------------------------------------


class StepRequestSerializer(serializers.Serializer):
    cpu = serializers.FloatField()
    memory_mb = serializers.IntegerField()
    gpu = serializers.IntegerField()
    gpu_class = serializers.CharField(help_text="Empty: any class.")
    gang = serializers.IntegerField(help_text="Pods started together, all or nothing; the request is per pod.")


class QueuedStepSerializer(serializers.Serializer):
    step_run_id = serializers.IntegerField()
    position = serializers.IntegerField(help_text="1-based place in the whole cluster's admission order.")
    run_id = serializers.IntegerField()
    pipeline = serializers.CharField()
    step = serializers.CharField()
    attempt = serializers.IntegerField()
    request = StepRequestSerializer()
    priority = serializers.IntegerField()
    queued_at = serializers.DateTimeField(allow_null=True, help_text="When it first became ready.")
    verdict = serializers.ChoiceField(choices=["admit", "wait", "never"],
                                      help_text="admit: the next dispatch starts it; never: it can never fit.")
    reason = serializers.CharField(help_text="Why it waits, in words.")


class ActiveStepSerializer(serializers.Serializer):
    step_run_id = serializers.IntegerField()
    run_id = serializers.IntegerField()
    pipeline = serializers.CharField()
    step = serializers.CharField()
    attempt = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["admitted", "running", "preempted"])
    node = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    request = StepRequestSerializer()
    preempting = serializers.CharField(help_text="Why the next dispatch would preempt it; empty if it would not.")


class ResourceUsageSerializer(serializers.Serializer):
    resource = serializers.CharField(help_text="cpu, memory_mb, gpu or gpu/<class>.")
    label = serializers.CharField()
    used = serializers.FloatField()
    nominal = serializers.FloatField(allow_null=True, help_text="Null: not limited on its own.")
    borrowing_limit = serializers.FloatField(allow_null=True, help_text="Null: no limit beyond what the cohort lends.")
    borrowed = serializers.FloatField(help_text="Held beyond the nominal quota.")


class TeamQueueSerializer(serializers.Serializer):
    team_id = serializers.IntegerField()
    team = serializers.CharField()
    policy = serializers.CharField(help_text="The cluster's scheduling policy that orders the queue.")
    cohort = serializers.CharField(help_text="Empty: the team borrows from nobody.")
    has_quota = serializers.BooleanField()
    waiting_in_cluster = serializers.IntegerField(help_text="Step runs waiting in the whole cluster.")
    waiting = QueuedStepSerializer(many=True, help_text="The team's waiting step runs in admission order.")
    active = ActiveStepSerializer(many=True)
    usage = ResourceUsageSerializer(many=True)
    as_of = serializers.DateTimeField()


# -- the quota ---------------------------------------------------------------------------------


class NamedSlugField(serializers.SlugRelatedField):
    """A related object by name; an unknown name is a field error that names it."""

    def __init__(self, *, what: str, **kwargs) -> None:
        self.what = what
        super().__init__(slug_field="name", **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Give the {self.what}'s name as text.")
        try:
            return self.get_queryset().get(name=data)
        except self.get_queryset().model.DoesNotExist:
            known = ", ".join(self.get_queryset().values_list("name", flat=True)) or "none yet"
            raise serializers.ValidationError(f"There is no {self.what} named '{data}' (known: {known}).")


def _count(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_COUNT, **kwargs)


class GpuClassQuotaSerializer(serializers.Serializer):
    gpu_class = NamedSlugField(what="GPU class", queryset=GpuClass.objects.all())
    gpu = _count(help_text="Nominal GPUs of this class.")
    borrow_gpu = _count(allow_null=True, required=False, default=None,
                        help_text="Most it may borrow of this class; null: what the cohort lends.")


class QuotaSerializer(serializers.Serializer):
    """A team's quota. PUT replaces it (omitted optional fields become null / empty); PATCH
    changes the fields given (``gpu_classes``, when given, replaces the list)."""

    cpu = serializers.DecimalField(max_digits=9, decimal_places=3, min_value=Decimal(0), coerce_to_string=False,
                                   help_text="Nominal cpus.")
    memory_mb = serializers.IntegerField(min_value=0, max_value=MAX_MEMORY_MB, help_text="Nominal memory (MB).")
    gpu = _count(help_text="Nominal GPUs of any class.")
    borrow_cpu = serializers.DecimalField(max_digits=9, decimal_places=3, min_value=Decimal(0), allow_null=True,
                                          required=False, default=None, coerce_to_string=False)
    borrow_memory_mb = serializers.IntegerField(min_value=0, max_value=MAX_MEMORY_MB, allow_null=True,
                                                required=False, default=None)
    borrow_gpu = _count(allow_null=True, required=False, default=None)
    cohort = NamedSlugField(what="cohort", queryset=Cohort.objects.all(), allow_null=True, required=False,
                            default=None, help_text="The cohort's name; null: no cohort, nothing borrowed.")
    weight = serializers.FloatField(min_value=0.001, max_value=1e6, allow_null=True, required=False, default=None,
                                    help_text="Fair-share weight; null: the nominal quota's share.")
    gpu_classes = GpuClassQuotaSerializer(many=True, required=False, default=list)

    def validate_gpu_classes(self, entries):
        seen = set()
        for entry in entries:
            name = entry["gpu_class"].name
            if name in seen:
                raise serializers.ValidationError(f"GPU class '{name}' is listed twice.")
            seen.add(name)
        return entries

    def to_representation(self, quota: Quota) -> dict:
        return {
            "cpu": float(quota.cpu), "memory_mb": quota.memory_mb, "gpu": quota.gpu,
            "borrow_cpu": None if quota.borrow_cpu is None else float(quota.borrow_cpu),
            "borrow_memory_mb": quota.borrow_memory_mb, "borrow_gpu": quota.borrow_gpu,
            "cohort": quota.cohort.name if quota.cohort_id else None, "weight": quota.weight,
            "gpu_classes": [
                {"gpu_class": c.gpu_class.name, "gpu": c.gpu, "borrow_gpu": c.borrow_gpu}
                for c in sorted(quota.gpu_classes.all(), key=lambda c: c.gpu_class.name)
            ],
        }


class QuotaAnswerSerializer(serializers.Serializer):
    """What the quota endpoints answer: the quota, warnings, and the names the form offers."""

    team = serializers.CharField()
    quota = QuotaSerializer(allow_null=True, help_text="Null: the team has no quota yet.")
    warnings = serializers.ListField(child=serializers.CharField(),
                                     help_text="Sums of nominal quotas over all teams beyond the cluster's capacity.")
    cohorts = serializers.ListField(child=serializers.CharField(), help_text="Every cohort's name.")
    gpu_classes = serializers.ListField(child=serializers.CharField(), help_text="Every GPU class's name.")
