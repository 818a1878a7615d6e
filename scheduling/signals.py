"""Every change of what admission reads from the admin's tables (quotas, GPU class quotas,
cohorts, the cluster's policy) asks for a dispatch, once its transaction commits: raising a quota
admits what waited on it without waiting for the periodic dispatch."""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from pipelines.outbox import request_dispatch

from .models import Cluster, Cohort, GpuClassQuota, Quota

WATCHED = (Quota, GpuClassQuota, Cohort, Cluster)


def dispatch_on_change(sender, raw: bool = False, **kwargs) -> None:
    if not raw:  # raw: loaddata, nothing to schedule yet
        request_dispatch()


def connect() -> None:
    for model in WATCHED:
        post_save.connect(dispatch_on_change, sender=model, dispatch_uid=f"dispatch-on-save-{model.__name__}")
        post_delete.connect(dispatch_on_change, sender=model, dispatch_uid=f"dispatch-on-delete-{model.__name__}")
