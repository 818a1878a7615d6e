"""The real processes of Trellis, started for integration tests: Celery worker, watcher, daphne.

They share the test database (committed data only: use ``django_db(transaction=True)``), the test
Redis and the var directory that ``tests/harness.py`` set up.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from .harness import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


class Stack:
    """Start, kill and restart Trellis's processes; logs go to ``<var>/stack/<name>.log``."""

    COMMANDS = {
        "worker": [sys.executable, "-m", "celery", "-A", "mlops_web", "worker", "-P", "solo", "-l", "info",
                   "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", "worker@%h"],
        "watcher": [sys.executable, "manage.py", "run_watcher"],
        "web": None,  # needs a port; see start()
    }

    def __init__(self, env: dict[str, str] | None = None) -> None:
        """``env``: more environment for every process (e.g. ``TRELLIS_EXECUTOR=kubernetes``)."""
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = Path(os.environ["TRELLIS_VAR_DIR"]) / "stack"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the servers keep Django's async safety checks
        self.port: int | None = None

    def start(self, *names: str) -> "Stack":
        try:
            for name in names or ("worker", "watcher", "web"):
                self._start(name)
        except BaseException:
            self.stop()  # leave nothing running behind a failed start
            raise
        return self

    def _start(self, name: str) -> None:
        argv = self.COMMANDS[name]
        if name == "web":
            self.port = self.port or free_port()
            argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "mlops_web.asgi:application"]
        log = open(self.logs / f"{name}.log", "ab")
        offset = log.tell()
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        if name == "web":
            wait_for_port(self.port)
        elif name == "worker":
            self._wait_for_log(name, b"ready.", offset)
        elif name == "watcher":
            self._wait_for_log(name, b"watching", offset)

    def _wait_for_log(self, name: str, needle: bytes, start: int, timeout_s: float = 60) -> None:
        path, deadline = self.logs / f"{name}.log", time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
            if needle in path.read_bytes()[start:]:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not become ready: {self.log_tail(name)}")

    def log_tail(self, name: str, n: int = 4000) -> str:
        return (self.logs / f"{name}.log").read_bytes()[-n:].decode(errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash would: no cleanup, no goodbye."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for name, proc in list(self.procs.items()):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
            self.procs.pop(name, None)

    def quiesce(self, timeout_s: float = 30.0) -> None:
        """Wait until no step is queued or running, no task is queued, and (on PostgreSQL) no other
        session is inside a statement or a transaction: a test's database flush must not race the
        processes' last writes."""
        import redis
        from django.conf import settings

        from pipelines import states
        from pipelines.models import StepRun

        broker = redis.Redis.from_url(settings.REDIS_URL)
        deadline, calm = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline and calm < 3:
            busy = (
                StepRun.objects.filter(status__in=[states.QUEUED, *states.STEP_ACTIVE]).exists()
                or broker.llen("celery") > 0
                or self._other_sessions_busy()
            )
            calm = 0 if busy else calm + 1
            time.sleep(0.05)

    @staticmethod
    def _other_sessions_busy() -> bool:
        if connection.vendor != "postgresql":
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
            )
            return cursor.fetchone()[0] > 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
