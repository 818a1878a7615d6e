"""What the teams endpoints answer."""
from __future__ import annotations

from rest_framework import serializers

from ..models import Membership, Quota, Team


class QuotaSerializer(serializers.ModelSerializer):
    cpu = serializers.FloatField(read_only=True)

    class Meta:
        model = Quota
        fields = ["cpu", "memory_mb", "gpu"]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    """A team of the caller's, with the caller's ``role`` in it (annotated by the view)."""

    role = serializers.ChoiceField(choices=Membership.ROLES, read_only=True, help_text="Your role in the team.")
    quota = QuotaSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Team
        fields = ["id", "name", "display_name", "role", "quota"]
        read_only_fields = fields
