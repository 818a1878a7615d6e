"""Pipelines, their immutable versions and steps; runs, step runs and every transition."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from . import states


class Pipeline(models.Model):
    team = models.ForeignKey("scheduling.Team", on_delete=models.CASCADE, related_name="pipelines")
    name = models.SlugField(max_length=63)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="pipeline_name_unique_in_team")]

    def __str__(self) -> str:
        return f"{self.team}/{self.name}"

    @property
    def latest_version(self) -> "PipelineVersion | None":
        return self.versions.order_by("-number").first()


class PipelineVersion(models.Model):
    """One saved state of a pipeline. Never changed after it is written: saving makes a new one."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    message = models.CharField(max_length=500, blank=True)
    spec = models.JSONField(help_text="The whole pipeline spec as saved (pipelines.spec format).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pipeline", "-number"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "number"], name="version_number_unique")]

    def __str__(self) -> str:
        return f"{self.pipeline} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:  # loaded or saved already; force_insert must not overwrite it
            raise ValidationError("A pipeline version is immutable: save a new version instead.")
        super().save(*args, **kwargs)


class Step(models.Model):
    """A step of one pipeline version (rows mirror ``PipelineVersion.spec`` for querying)."""

    version = models.ForeignKey(PipelineVersion, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=63)
    type = models.CharField(max_length=20, default="python")
    image = models.CharField(max_length=300)
    command = models.JSONField(default=list)
    env = models.JSONField(default=dict)
    cpu = models.FloatField(default=1.0)
    memory_mb = models.PositiveIntegerField(default=1024)
    gpu = models.PositiveIntegerField(default=0)
    gpu_class = models.CharField(max_length=63, blank=True)
    inputs = models.JSONField(default=dict, help_text="local input name -> 'producer.output'")
    outputs = models.JSONField(default=list)
    depends_on = models.JSONField(default=list)
    retries = models.PositiveIntegerField(default=0)
    timeout_s = models.PositiveIntegerField(default=3600)
    estimate_s = models.FloatField(null=True, blank=True)
    position_x = models.FloatField(default=0)
    position_y = models.FloatField(default=0)

    class Meta:
        ordering = ["version", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="step_name_unique_in_version")]

    def __str__(self) -> str:
        return f"{self.version}:{self.name}"


class Run(models.Model):
    STATUS_CHOICES = [(s, s) for s in states.RUN_STATES]

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(PipelineVersion, on_delete=models.PROTECT, related_name="runs")
    team = models.ForeignKey("scheduling.Team", on_delete=models.CASCADE, related_name="runs")
    spec = models.JSONField(help_text="Snapshot of the version's spec when the run was submitted.")
    parameters = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=states.RUN_QUEUED, db_index=True)
    reason = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0, help_text="Sequence number of the newest event.")
    workdir = models.CharField(max_length=500, blank=True)
    excludes = models.JSONField(default=list, blank=True,
                                help_text="Pipelines (by name) this run must never run beside (from its spec).")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.pipeline} ({self.status})"


class StepRun(models.Model):
    """A step of a run. One row per step; ``attempt`` counts its tries (1-based)."""

    STATUS_CHOICES = [(s, s) for s in states.STEP_STATES]

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="step_runs")
    team = models.ForeignKey("scheduling.Team", on_delete=models.CASCADE, related_name="step_runs")
    step_name = models.CharField(max_length=63)
    step_type = models.CharField(max_length=20, default="python")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=states.PENDING, db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    max_attempts = models.PositiveIntegerField(default=1)
    cpu = models.FloatField(default=1.0)
    memory_mb = models.PositiveIntegerField(default=1024)
    gpu = models.PositiveIntegerField(default=0)
    gpu_class = models.CharField(max_length=63, blank=True)
    gang = models.PositiveIntegerField(default=1, help_text="Pods started together, all or nothing.")
    node_selector = models.JSONField(default=dict, blank=True)
    is_preemptible = models.BooleanField(default=False)
    is_borrowed = models.BooleanField(default=False, help_text="Admitted beyond its team's nominal quota.")
    admissions = models.PositiveIntegerField(
        default=0, help_text="Times this attempt was admitted (a preempted step is admitted again)."
    )
    priority = models.IntegerField(default=0)
    timeout_s = models.PositiveIntegerField(default=3600)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="First time it became ready; keeps its place in line.")
    ready_at = models.DateTimeField(null=True, blank=True, help_text="Not admitted before this (retry backoff).")
    admitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=1000, blank=True)
    handle = models.CharField(max_length=200, blank=True, db_index=True, help_text="The executor's job name.")
    node = models.CharField(max_length=200, blank=True)
    log_path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "step_name"], name="one_step_run_per_step")]
        indexes = [models.Index(fields=["status", "queued_at"], name="steprun_queue_idx")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.step_name}#{self.attempt} ({self.status})"


class StepRunEvent(models.Model):
    """One transition of a step run; ``seq`` orders a run's events without gaps."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    step_run = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    step_name = models.CharField(max_length=63)
    attempt = models.PositiveIntegerField()
    from_status = models.CharField(max_length=10)
    to_status = models.CharField(max_length=10)
    reason = models.CharField(max_length=1000, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    run_status = models.CharField(max_length=12, help_text="The run's status after this event.")
    at = models.DateTimeField()
    log_path = models.CharField(max_length=500, blank=True,
                                help_text="Where this attempt's log is kept (set on admission): the step "
                                          "run's own log_path names only the latest attempt's.")

    class Meta:
        ordering = ["run_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="event_seq_unique_in_run")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.step_name}: {self.from_status} -> {self.to_status}"

    def as_message(self) -> dict:
        """The JSON-plain payload published and replayed over websockets."""
        return {
            "type": "step.transition",
            "run": self.run_id,
            "seq": self.seq,
            "step": self.step_name,
            "step_run": self.step_run_id,
            "attempt": self.attempt,
            "from": self.from_status,
            "to": self.to_status,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "run_status": self.run_status,
            "at": self.at.isoformat(),
        }
