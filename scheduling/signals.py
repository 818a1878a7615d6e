"""Every change of what admission reads from the admin's tables (quotas, GPU class quotas,
cohorts, the cluster's policy) asks for a dispatch and tells the pages of the teams it touches
(``team.<id>``), once its transaction commits: raising a quota admits what waited on it without
waiting for the periodic dispatch, and the team page shows the new quota and order at once,
whether the change came from the Django admin, the API or a shell.

Which teams a change touches: a quota's team and every team of its cohort, before and after
(what the cohort lends changed for all of them); a cohort's teams; every team for the cluster
(its policy orders everyone's queue).
"""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from pipelines.outbox import publish_team_changed, request_dispatch

from .models import Cluster, Cohort, GpuClassQuota, Quota, Team

WATCHED = (Quota, GpuClassQuota, Cohort, Cluster)
_BEFORE = "_trellis_teams_before"  # teams touched as the row was before the change


def _cohort_teams(cohort_ids) -> set[int]:
    ids = {c for c in cohort_ids if c is not None}
    return set(Quota.objects.filter(cohort_id__in=ids).values_list("team_id", flat=True)) if ids else set()


def touched_teams(instance) -> set[int]:
    """The teams whose queue or quota a change of ``instance`` may change, as it is now."""
    if isinstance(instance, Cluster):
        return set(Team.objects.values_list("pk", flat=True))
    if isinstance(instance, Cohort):
        return _cohort_teams([instance.pk])
    if isinstance(instance, GpuClassQuota):
        quota = Quota.objects.filter(pk=instance.quota_id).values_list("team_id", "cohort_id").first()
        return {quota[0], *_cohort_teams([quota[1]])} if quota else set()
    if isinstance(instance, Quota):
        return {instance.team_id, *_cohort_teams([instance.cohort_id])}
    return set()


def remember_teams_before(sender, instance, raw: bool = False, **kwargs) -> None:
    """Before a save or delete: the teams as the row stands in the database (its old cohort), or,
    for a cohort being deleted, its teams while they still name it."""
    if raw or instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).first()
    setattr(instance, _BEFORE, touched_teams(before) if before is not None else set())


def dispatch_on_change(sender, instance, raw: bool = False, **kwargs) -> None:
    if raw:  # loaddata: nothing to schedule yet
        return
    request_dispatch()
    publish_team_changed(getattr(instance, _BEFORE, set()) | touched_teams(instance))


def connect() -> None:
    for model in WATCHED:
        name = model.__name__
        pre_save.connect(remember_teams_before, sender=model, dispatch_uid=f"teams-before-save-{name}")
        pre_delete.connect(remember_teams_before, sender=model, dispatch_uid=f"teams-before-delete-{name}")
        post_save.connect(dispatch_on_change, sender=model, dispatch_uid=f"dispatch-on-save-{name}")
        post_delete.connect(dispatch_on_change, sender=model, dispatch_uid=f"dispatch-on-delete-{name}")
