"""The cluster Trellis schedules onto, and its settings (policy, half-life, grace period)."""
from __future__ import annotations

from django.conf import settings

from .models import Cluster


def current() -> Cluster:
    """The cluster in use: created on first use with the policy named by ``TRELLIS_POLICY``."""
    cluster, _ = Cluster.objects.get_or_create(name="default", defaults={"policy": settings.TRELLIS_POLICY})
    return cluster
