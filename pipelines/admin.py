from django.contrib import admin

from .models import Pipeline, PipelineVersion, Run, Step, StepRun, StepRunEvent


class NoAddAdmin(admin.ModelAdmin):
    """Rows made by Trellis itself (versions, runs, events): the admin shows them, never creates them."""

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VersionInline(ReadOnlyInline):
    model = PipelineVersion
    fields = ["number", "message", "created_by", "created_at"]
    readonly_fields = fields


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["name", "description"]
    inlines = [VersionInline]


class StepInline(ReadOnlyInline):
    model = Step
    fields = ["name", "type", "image", "command", "cpu", "memory_mb", "gpu", "inputs", "outputs", "depends_on"]
    readonly_fields = fields


@admin.register(PipelineVersion)
class PipelineVersionAdmin(NoAddAdmin):
    """Versions are immutable: the admin shows them and never edits them."""

    list_display = ["pipeline", "number", "message", "created_by", "created_at"]
    list_filter = ["pipeline__team"]
    inlines = [StepInline]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Step)
class StepAdmin(NoAddAdmin):
    list_display = ["name", "version", "type", "cpu", "memory_mb", "gpu"]
    search_fields = ["name"]

    def has_change_permission(self, request, obj=None):
        return False


class StepRunInline(ReadOnlyInline):
    model = StepRun
    fields = ["step_name", "status", "attempt", "started_at", "finished_at", "exit_code", "reason"]
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(NoAddAdmin):
    list_display = ["id", "pipeline", "version", "status", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "team"]
    readonly_fields = ["spec", "last_seq", "workdir"]
    inlines = [StepRunInline]


@admin.register(StepRun)
class StepRunAdmin(NoAddAdmin):
    list_display = ["id", "run", "step_name", "status", "attempt", "exit_code", "reason"]
    list_filter = ["status", "team"]
    search_fields = ["step_name"]


@admin.register(StepRunEvent)
class StepRunEventAdmin(NoAddAdmin):
    list_display = ["run", "seq", "step_name", "attempt", "from_status", "to_status", "reason", "at"]
    list_filter = ["to_status"]

    def has_change_permission(self, request, obj=None):
        return False
