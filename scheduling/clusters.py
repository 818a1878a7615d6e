"""The cluster Trellis schedules onto, and its settings (policy, half-life, grace period).

``policy_of`` and ``snapshot_for`` are the one way to turn the cluster's settings into what the
core decides with: the dispatcher and the team queue page both use them, so the page shows the
order the next dispatch takes.
"""
from __future__ import annotations

from datetime import datetime

from django.conf import settings

from . import snapshot
from .core import policies
from .core.types import Capacity, Snapshot
from .models import Cluster

USAGE_POLICIES = frozenset({"fair_share"})  # the policies that read past usage


def current() -> Cluster:
    """The cluster in use: created on first use with the policy named by ``TRELLIS_POLICY``."""
    cluster, _ = Cluster.objects.get_or_create(name="default", defaults={"policy": settings.TRELLIS_POLICY})
    return cluster


def policy_of(cluster: Cluster, name: str | None = None) -> policies.Policy:
    """The policy ``name`` (default: the cluster's) with the cluster's settings: fair share's
    half-life."""
    return policies.get(name or cluster.policy, half_life_s=cluster.fair_share_half_life_s)


def snapshot_for(policy: policies.Policy, *, capacity: Capacity, now: datetime) -> Snapshot:
    """What ``core.admit`` reads under ``policy``, from the database as of ``now``: past usage,
    decayed over the policy's half-life, only for the policies that read it."""
    return snapshot.load(capacity=capacity, now=now, half_life_s=policy.half_life_s,
                         with_usage=policy.name in USAGE_POLICIES)
