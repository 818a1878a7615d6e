from django.contrib import admin

from .models import DispatchCursor, Membership, Quota, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class QuotaInline(admin.StackedInline):
    model = Quota
    can_delete = False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "display_name", "created_at"]
    search_fields = ["name", "display_name"]
    inlines = [QuotaInline, MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["team", "user", "role"]
    list_filter = ["role", "team"]
    autocomplete_fields = ["user", "team"]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["team", "cpu", "memory_mb", "gpu", "updated_at"]


@admin.register(DispatchCursor)
class DispatchCursorAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "updated_at"]
    readonly_fields = ["name", "position", "updated_at"]
