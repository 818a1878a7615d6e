"""The Django admin for teams, quotas, cohorts, GPU classes and the cluster's policy.

Saving a quota, a cohort or the cluster asks for a dispatch and refreshes the pages of the teams
it touches (``signals.py``); saving a quota also warns when the nominal quotas of all teams add up
to more than the cluster holds.
"""
from __future__ import annotations

import logging

from django.contrib import admin, messages

from .api.quotas import capacity_warnings
from .executors import get_executor
from .models import (Cluster, Cohort, DispatchCursor, GpuClass, GpuClassQuota, Membership, Quota, SchedulingDecision,
                     Team)

log = logging.getLogger(__name__)


def warn_about_capacity(request) -> None:
    """Tell the admin where nominal quotas promise more than the cluster holds."""
    try:
        capacity = get_executor().capacity()
    except Exception as exc:  # the cluster unreachable must not stop a quota being saved
        log.warning("could not read the cluster's capacity: %s", exc)
        messages.warning(request, f"Could not compare quotas with the cluster's capacity: {exc}")
        return
    for warning in capacity_warnings(capacity):
        messages.warning(request, warning)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class QuotaInline(admin.StackedInline):
    model = Quota
    can_delete = False
    fields = [("cpu", "memory_mb", "gpu"), "cohort", ("borrow_cpu", "borrow_memory_mb", "borrow_gpu"), "weight"]


class GpuClassQuotaInline(admin.TabularInline):
    model = GpuClassQuota
    extra = 0
    fields = ["gpu_class", "gpu", "borrow_gpu"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "display_name", "created_at"]
    search_fields = ["name", "display_name"]
    inlines = [QuotaInline, MembershipInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if any(f.model is Quota and f.has_changed() for f in formsets):
            warn_about_capacity(request)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["team", "user", "role"]
    list_filter = ["role", "team"]
    autocomplete_fields = ["user", "team"]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "teams"]
    search_fields = ["name"]

    @admin.display(description="teams")
    def teams(self, cohort: Cohort) -> str:
        return ", ".join(q.team.name for q in cohort.quotas.select_related("team").order_by("team__name")) or "-"


@admin.register(GpuClass)
class GpuClassAdmin(admin.ModelAdmin):
    list_display = ["name", "speed", "description"]
    search_fields = ["name"]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["team", "nominal", "borrowing", "cohort", "weight", "updated_at"]
    list_filter = ["cohort"]
    list_select_related = ["team", "cohort"]
    search_fields = ["team__name"]
    autocomplete_fields = ["team"]
    fieldsets = [
        (None, {"fields": ["team", "cohort", "weight"]}),
        ("Nominal quota", {"fields": [("cpu", "memory_mb", "gpu")]}),
        ("Borrowing limit (blank: as much as the cohort lends)",
         {"fields": [("borrow_cpu", "borrow_memory_mb", "borrow_gpu")]}),
    ]
    inlines = [GpuClassQuotaInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("gpu_classes__gpu_class")

    @admin.display(description="nominal")
    def nominal(self, q: Quota) -> str:
        classes = "".join(f", {c.gpu_class.name} {c.gpu}" for c in q.gpu_classes.all())
        return f"cpu {q.cpu:g}, memory {q.memory_mb} MB, gpu {q.gpu}{classes}"

    @admin.display(description="may borrow")
    def borrowing(self, q: Quota) -> str:
        if q.cohort_id is None:
            return "nothing (no cohort)"
        parts = [f"{name} {'any' if value is None else f'{value:g}'}" for name, value in
                 (("cpu", q.borrow_cpu), ("memory MB", q.borrow_memory_mb), ("gpu", q.borrow_gpu))]
        parts += [f"{c.gpu_class.name} {'any' if c.borrow_gpu is None else c.borrow_gpu}" for c in q.gpu_classes.all()]
        return ", ".join(parts)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)  # the GPU class quotas too, then compare
        warn_about_capacity(request)


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "policy", "fair_share_half_life_s", "preemption_grace_s", "updated_at"]


@admin.register(SchedulingDecision)
class SchedulingDecisionAdmin(admin.ModelAdmin):
    list_display = ["at", "cluster", "policy", "waiting", "admitted_count", "preempted_count", "duration_ms"]
    list_filter = ["policy", "cluster"]
    date_hierarchy = "at"

    @admin.display(description="admitted")
    def admitted_count(self, d: SchedulingDecision) -> int:
        return len(d.admitted)

    @admin.display(description="preempted")
    def preempted_count(self, d: SchedulingDecision) -> int:
        return len(d.preempted)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DispatchCursor)
class DispatchCursorAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "updated_at"]
    readonly_fields = ["name", "position", "updated_at"]
