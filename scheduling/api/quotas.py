"""Writing a team's quota, and what an admin should know about the sum of all quotas.

Saving a Quota or GpuClassQuota asks for a dispatch and tells the pages of the team and of the
teams of its cohorts, before and after (``team.<id>``), after commit: the models' signals do
it (``scheduling/signals.py``), for the API and the Django admin alike.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from ..core.types import Capacity
from ..models import GpuClassQuota, Quota, Team

NOMINAL = (("cpu", "cpu"), ("memory_mb", "memory MB"), ("gpu", "gpu"))
OPTIONAL_DEFAULTS = {"borrow_cpu": None, "borrow_memory_mb": None, "borrow_gpu": None, "cohort": None,
                     "weight": None, "gpu_classes": []}


def save_quota(team: Team, data: dict, *, partial: bool) -> Quota:
    """Create or change the team's quota from validated data. A full save (PUT) resets what it
    does not name; a partial one (PATCH) keeps it. ``gpu_classes``, when given, is the new list."""
    if not partial:
        data = {**OPTIONAL_DEFAULTS, **data}
    classes = data.pop("gpu_classes", None)
    with transaction.atomic():
        quota = Quota.objects.select_for_update().filter(team=team).first() or Quota(team=team)
        for field, value in data.items():
            setattr(quota, field, value)
        quota.save()
        if classes is not None:
            keep = {c["gpu_class"].pk for c in classes}
            quota.gpu_classes.exclude(gpu_class_id__in=keep).delete()
            for c in classes:
                GpuClassQuota.objects.update_or_create(
                    quota=quota, gpu_class=c["gpu_class"], defaults={"gpu": c["gpu"], "borrow_gpu": c.get("borrow_gpu")}
                )
    return quota


def capacity_warnings(capacity: Capacity) -> list[str]:
    """Where the nominal quotas of all teams add up to more than the cluster holds: borrowing
    then promises what cannot be lent, and teams may wait below their nominal quota."""
    out = []
    totals = {key: sum((getattr(q, key) for q in Quota.objects.only(key)), Decimal(0)) for key, _ in NOMINAL}
    for key, name in NOMINAL:
        has = getattr(capacity, key)
        if float(totals[key]) > has + 1e-9:
            out.append(f"Nominal {name} quotas of all teams add up to {_fmt(totals[key])}, "
                       f"more than the cluster's {_fmt(has)}.")
    if capacity.nodes:  # per class only when the executor says which nodes have which GPUs
        by_class: dict[str, int] = {}
        for c in GpuClassQuota.objects.select_related("gpu_class"):
            by_class[c.gpu_class.name] = by_class.get(c.gpu_class.name, 0) + c.gpu
        for name, total in sorted(by_class.items()):
            has = sum(n.gpu for n in capacity.nodes if n.gpu_class == name)
            if total > has:
                out.append(f"Nominal {name} gpu quotas of all teams add up to {total}, more than the cluster's {has}.")
    return out


def _fmt(value) -> str:
    return f"{float(value):g}"
