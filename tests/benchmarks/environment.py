"""A throwaway Trellis for a benchmark: its own var dir, SQLite database, Redis and processes."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def trellis_environment(*processes: str, database_url: str | None = None):
    """Set up env vars, Django, a migrated database and the named processes; yield the Stack.
    The database is a fresh SQLite file unless ``database_url`` names another (empty) one."""
    base = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    os.environ["TRELLIS_VAR_DIR"] = str(base / "var")
    os.environ.setdefault("TRELLIS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_web.settings")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    from tests.harness import start_redis

    redis, url = start_redis(base)
    os.environ["REDIS_URL"] = url
    stack = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        from tests.stack import Stack

        stack = Stack().start(*processes)
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        redis.terminate()
        redis.wait(5)
        shutil.rmtree(base, ignore_errors=True)
