"""The Celery application: broker and schedule come from Django settings (CELERY_*)."""
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_web.settings")

app = Celery("trellis")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["scheduling"])


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**_) -> None:
    """A task's database connection lives as a request's does (CONN_MAX_AGE, and not past an
    error): Celery itself would reconnect for every task (see CELERY_DB_REUSE_MAX in settings)."""
    from django.db import close_old_connections

    close_old_connections()
