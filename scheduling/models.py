"""Teams, who belongs to them, and what each team may use at once."""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Team(models.Model):
    name = models.SlugField(max_length=63, unique=True, help_text="Lowercase letters, digits and '-'.")
    display_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    ROLES = [(VIEWER, "viewer"), (EDITOR, "editor"), (ADMIN, "admin")]
    RANK = {VIEWER: 0, EDITOR: 1, ADMIN: 2}

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=ROLES, default=VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    def allows(self, role: str) -> bool:
        return self.RANK[self.role] >= self.RANK[role]


POLICIES = [
    ("fifo", "first in, first out"),
    ("sjf", "shortest job first"),
    ("srtf", "shortest remaining time first (preemptive)"),
    ("priority", "priority, with ageing"),
    ("fair_share", "fair share (dominant resource, decayed usage)"),
    ("resource_aware", "resource aware (best fit, backfill, preemption)"),
]


class Cohort(models.Model):
    """Teams that lend each other their unused nominal quota."""

    name = models.SlugField(max_length=63, unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GpuClass(models.Model):
    """A kind of GPU (``a100``): the value of the nodes' GPU class label."""

    name = models.SlugField(max_length=63, unique=True)
    speed = models.FloatField(default=1.0, validators=[MinValueValidator(0.001)],
                              help_text="Relative speed, for duration estimates.")
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "GPU classes"

    def __str__(self) -> str:
        return self.name


class Quota(models.Model):
    """What a team may hold at once (admitted + running step runs): its nominal quota, and how
    much more it may borrow from its cohort's unused quota (blank: no limit but what is lent)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="quota")
    cpu = models.DecimalField(
        max_digits=9, decimal_places=3, default=Decimal("8"), validators=[MinValueValidator(0)]
    )
    memory_mb = models.PositiveBigIntegerField(default=32768)
    gpu = models.PositiveIntegerField(default=0, help_text="GPUs of any class.")
    cohort = models.ForeignKey(Cohort, on_delete=models.SET_NULL, null=True, blank=True, related_name="quotas",
                               help_text="Teams of a cohort lend each other unused quota.")
    borrow_cpu = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True,
                                     validators=[MinValueValidator(0)])
    borrow_memory_mb = models.PositiveBigIntegerField(null=True, blank=True)
    borrow_gpu = models.PositiveIntegerField(null=True, blank=True)
    weight = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.001)],
                               help_text="Fair-share weight; blank: the nominal quota's share of the cluster.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.team}: cpu {self.cpu}, memory {self.memory_mb} MB, gpu {self.gpu}"


class GpuClassQuota(models.Model):
    """A team's nominal GPUs of one class (limited on their own, beside ``Quota.gpu``)."""

    quota = models.ForeignKey(Quota, on_delete=models.CASCADE, related_name="gpu_classes")
    gpu_class = models.ForeignKey(GpuClass, on_delete=models.PROTECT, related_name="quotas")
    gpu = models.PositiveIntegerField(default=0)
    borrow_gpu = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["quota", "gpu_class"], name="one_gpu_class_quota")]

    def __str__(self) -> str:
        return f"{self.quota.team}: {self.gpu} x {self.gpu_class}"


class Cluster(models.Model):
    """Where steps run, and how the scheduler chooses among them."""

    name = models.SlugField(max_length=63, unique=True, default="default")
    policy = models.CharField(max_length=20, choices=POLICIES, default="fifo")
    fair_share_half_life_s = models.FloatField(default=3600.0, validators=[MinValueValidator(1.0)])
    preemption_grace_s = models.FloatField(default=30.0, validators=[MinValueValidator(0.0)],
                                           help_text="Seconds between SIGTERM and kill for a preempted step.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.policy})"


class SchedulingDecision(models.Model):
    """One dispatch that admitted or preempted something, and the policy that decided it."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField(db_index=True)
    policy = models.CharField(max_length=20)
    waiting = models.PositiveIntegerField(default=0)
    admitted = models.JSONField(default=list, help_text="Step run ids admitted.")
    preempted = models.JSONField(default=dict, help_text="Step run id -> why it was preempted.")
    duration_ms = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.policy}: {len(self.admitted)} admitted"


class DispatchCursor(models.Model):
    """Where a watcher stopped reading its executor's events, so a restart resumes there."""

    name = models.CharField(max_length=100, unique=True)
    position = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"
