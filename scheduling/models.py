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


class Quota(models.Model):
    """The most a team may hold at once (admitted + running step runs)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="quota")
    cpu = models.DecimalField(
        max_digits=9, decimal_places=3, default=Decimal("8"), validators=[MinValueValidator(0)]
    )
    memory_mb = models.PositiveBigIntegerField(default=32768)
    gpu = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.team}: cpu {self.cpu}, memory {self.memory_mb} MB, gpu {self.gpu}"


class DispatchCursor(models.Model):
    """Where a watcher stopped reading its executor's events, so a restart resumes there."""

    name = models.CharField(max_length=100, unique=True)
    position = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"
