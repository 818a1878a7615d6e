"""python manage.py run_watcher: follow the executor's events and record every transition."""
from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

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
        self.stdout.write(f"watching {name}")
        self.stdout.flush()
        follow(executor, name=name, should_stop=lambda: bool(stopping))
