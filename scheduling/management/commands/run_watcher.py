"""python manage.py run_watcher: follow the executor's events and record every transition."""
from __future__ import annotations

import logging
import signal

from django.core.management.base import BaseCommand
from django.utils import timezone

from scheduling.dispatch import reconcile_on_start
from scheduling.executors import get_executor
from scheduling.watcher import follow


class Command(BaseCommand):
    help = "Follow the executor (local processes or Kubernetes Jobs) and record step transitions."

    def handle(self, *args, **options):
        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(True))
        executor = get_executor()
        name = f"watcher:{type(executor).__name__}"
        try:  # before "watching" is said: what starts after this finds the cluster and database agreeing
            found = reconcile_on_start(executor=executor, now=timezone.now())
            self.stdout.write(f"reconciled: cancelled {len(found.cancelled)} orphaned job(s), "
                              f"resubmitted {len(found.resubmitted)} admitted step run(s)")
        except Exception:  # the cluster being unreachable must not keep the watcher from starting
            logging.getLogger(__name__).exception("start-up reconciliation failed; the periodic reconcile will retry")
        self.stdout.write(f"watching {name}")
        self.stdout.flush()
        follow(executor, name=name, should_stop=lambda: bool(stopping))
