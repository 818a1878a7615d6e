"""Celery entry points: a few lines each; the rules live in dispatch.py and the executors."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import clusters
from .dispatch import dispatch_once, reconcile as reconcile_admitted
from .executors import get_executor


@shared_task(name="scheduling.dispatch", ignore_result=True)
def dispatch() -> int:
    cluster = clusters.current()  # its policy and half-life; changed in the admin, read each time
    decision = dispatch_once(executor=get_executor(), policy=cluster.policy, now=timezone.now())
    return len(decision.admitted)


@shared_task(name="scheduling.reconcile", ignore_result=True)
def reconcile() -> int:
    return reconcile_admitted(executor=get_executor(), now=timezone.now(), grace_s=settings.TRELLIS_ADMITTED_GRACE_S)


@shared_task(name="scheduling.cancel_jobs", ignore_result=True)
def cancel_jobs(handles: list[str]) -> None:
    executor = get_executor()
    for handle in handles:
        executor.cancel(handle)
