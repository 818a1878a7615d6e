"""The local executor: each step attempt is a process group on this machine.

Submitting starts ``sh`` in a new session (its pid is the group id). The shell writes a
``started`` line to an append-only journal, runs the step's argv with its log as stdout and
stderr, and writes an ``exited`` line with the exit code. Appends are atomic, so the journal is
the ordered, durable event stream that ``watch(since=<byte offset>)`` follows: a watcher that
restarts resumes from its offset and misses nothing. The step processes never depend on the
process that started them, so a worker killed mid-run loses nothing.

A job file ``jobs/<name>.json`` created with O_EXCL makes submit idempotent (a second submit of
the same name is "already exists") and records the pid, the deadline and any cancel request.
``watch`` also enforces deadlines and escalates a cancel or a preemption from SIGTERM to SIGKILL
after its grace period (the job file records when it was told to stop, and the grace it has).
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

from ..core.types import Capacity, Request
from .base import EXITED, FAILED, STARTED, ExecutorEvent, JobSpec

log = logging.getLogger(__name__)

# "$@" is the step's argv. TERM is trapped (a no-op) so that the shell outlives its step and
# records the exit; the trap is not inherited, so the step itself gets the default action.
WRAPPER = r"""trap : TERM INT HUP
printf '{"handle":"%s","kind":"started","pid":%d}\n' "$TRELLIS_JOB" $$ >> "$TRELLIS_JOURNAL"
"$@"
rc=$?
printf '{"handle":"%s","kind":"exited","exit_code":%d}\n' "$TRELLIS_JOB" $rc >> "$TRELLIS_JOURNAL"
"""

# Trellis's own configuration never leaks into a step's environment.
_PRIVATE_ENV_PREFIXES = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_", "TRELLIS_")
_EXIT_MEANINGS = {126: "command not executable", 127: "command not found", 137: "killed", 143: "terminated"}


def describe_exit(code: int) -> str:
    meaning = _EXIT_MEANINGS.get(code)
    return f"exited with code {code}" + (f" ({meaning})" if meaning else "")


class LocalExecutor:
    def __init__(self, *, state_dir: Path, runs_dir: Path, cpu: float, memory_mb: int, gpu: int = 0,
                 grace_s: float = 10.0, poll_s: float = 0.003, project_dir: Path | None = None):
        self.state_dir = Path(state_dir)
        self.runs_dir = Path(runs_dir)
        self.jobs_dir = self.state_dir / "jobs"
        self.done_dir = self.state_dir / "done"
        self.journal = self.state_dir / "events.jsonl"
        for d in (self.jobs_dir, self.done_dir, self.runs_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.journal.touch(exist_ok=True)
        self.total = Request(cpu, memory_mb, gpu)
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.project_dir = project_dir
        self.node = socket.gethostname()

    # ------------------------------------------------------------------ interface

    def workdir(self, run_id: int) -> str:
        return str(self.runs_dir / str(run_id))

    def log_path(self, spec: JobSpec) -> str:
        return spec.log_path  # the step's process writes it itself

    def capacity(self) -> Capacity:
        return Capacity(self.total.cpu, self.total.memory_mb, self.total.gpu, largest_node=self.total)

    def submit(self, spec: JobSpec) -> str:
        """Start the job unless a job of that name exists already; return its handle (the name)."""
        job_file = self.jobs_dir / f"{spec.name}.json"
        if (self.done_dir / job_file.name).exists():
            return spec.name
        try:
            fd = os.open(job_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not self._is_abandoned(job_file):
                return spec.name
            job_file.unlink(missing_ok=True)  # a submit crashed before it started anything
            fd = os.open(job_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as f:
            pid = self._spawn(spec)
            json.dump({"pid": pid, "deadline": time.time() + spec.timeout_s, "timeout_s": spec.timeout_s}, f)
        return spec.name

    def cancel(self, handle: str) -> None:
        """SIGTERM the job's process group now; ``watch`` sends SIGKILL if it outlives the grace."""
        job = self._read_job(self.jobs_dir / f"{handle}.json")
        if not job or "pid" not in job:
            return
        job.setdefault("cancel_at", time.time())
        self._write_job(handle, job)
        _signal_group(job["pid"], signal.SIGTERM)
        for _ in range(50):  # most steps stop at once; don't hold the caller longer than that
            if not _alive(job["pid"]):
                return
            time.sleep(0.01)

    def preempt(self, handle: str, grace_s: float) -> None:
        """SIGTERM the job's process group now (time to write a checkpoint); ``watch`` sends SIGKILL
        if it is still alive ``grace_s`` seconds later. Its end is reported by ``watch`` as usual.
        A job told to stop already is not signalled again, so a checkpoint being written is not
        interrupted by a second SIGTERM."""
        job = self._read_job(self.jobs_dir / f"{handle}.json")
        if not job or "pid" not in job or "cancel_at" in job:
            return
        self._write_job(handle, {**job, "cancel_at": time.time(), "grace_s": grace_s})
        _signal_group(job["pid"], signal.SIGTERM)

    def list_active(self) -> list[str]:
        return sorted(p.stem for p in self.jobs_dir.glob("*.json") if _alive(self._read_job(p).get("pid")))

    def watch(self, since: str | None) -> Iterator[ExecutorEvent | None]:
        """Follow the journal from byte offset ``since``; yield None when idle (a heartbeat)."""
        offset = int(since or 0)
        buffer = b""
        last_check = 0.0
        with open(self.journal, "rb") as journal:
            journal.seek(offset)
            while True:
                chunk = journal.read()
                if chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        offset += len(line) + 1
                        event = self._event_from_line(line, offset)
                        if event is not None:
                            yield event
                    yield None  # caught up: the caller may record what it has in one go
                    continue
                if time.monotonic() - last_check > 0.25:
                    last_check = time.monotonic()
                    self._housekeeping()
                    yield None
                time.sleep(self.poll_s)

    # ------------------------------------------------------------------ internals

    def _spawn(self, spec: JobSpec) -> int:
        for d in (spec.workdir, os.path.dirname(spec.log_path), *spec.artifact_dirs):
            os.makedirs(d, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}
        threads = str(max(1, math.ceil(spec.cpu)))
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "/usr/bin:/bin")])
        if self.project_dir:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.project_dir), env.get("PYTHONPATH")]))
        env.update(spec.env)
        env.update(TRELLIS_JOB=spec.name, TRELLIS_JOURNAL=str(self.journal))
        with open(spec.log_path, "ab") as logfile:
            proc = subprocess.Popen(
                ["sh", "-c", WRAPPER, "trellis-step", *spec.command],
                cwd=spec.workdir, env=env, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        return proc.pid

    def _event_from_line(self, line: bytes, offset: int) -> ExecutorEvent | None:
        try:
            record = json.loads(line)
        except ValueError:
            log.warning("skipping a malformed journal line at %d: %r", offset, line[:200])
            return None
        handle, kind = record["handle"], record["kind"]
        if kind in (EXITED, FAILED):
            self._retire(handle, has_exited=kind == EXITED)
        if kind == STARTED:
            return ExecutorEvent(handle, STARTED, str(offset), node=self.node)
        if kind == EXITED:
            code = int(record["exit_code"])
            return ExecutorEvent(handle, EXITED, str(offset), exit_code=code, reason="" if code == 0 else describe_exit(code))
        return ExecutorEvent(handle, FAILED, str(offset), reason=record.get("reason", "failed"))

    def _append(self, record: dict) -> None:
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)

    def _housekeeping(self) -> None:
        """Enforce deadlines, escalate cancels to SIGKILL, notice jobs that vanished."""
        now = time.time()
        for path in self.jobs_dir.glob("*.json"):
            job, handle = self._read_job(path), path.stem
            pid = job.get("pid")
            if pid is None:
                continue
            if not _alive(pid):
                if job.get("failed"):  # stopped after its timeout or grace: nothing more will come
                    self._retire(handle, has_exited=True)
                elif now - path.stat().st_mtime > 5:
                    # the wrapper itself died (SIGKILL, OOM killer) before it could write its exit
                    self._write_job(handle, {**job, "failed": True})
                    self._append({"handle": handle, "kind": FAILED, "reason": "the step's process vanished"})
                continue
            if "cancel_at" not in job and now > job.get("deadline", math.inf):
                reason = f"timed out after {job.get('timeout_s')} s"
                job.update(cancel_at=now, failed=True)
                self._write_job(handle, job)
                self._append({"handle": handle, "kind": FAILED, "reason": reason})
                _signal_group(pid, signal.SIGTERM)
            elif "cancel_at" in job and now > job["cancel_at"] + job.get("grace_s", self.grace_s):
                if not job.get("failed"):  # SIGKILL takes the wrapper too: it will write no exit
                    self._write_job(handle, {**job, "failed": True})
                    grace_s = job.get("grace_s", self.grace_s)
                    self._append({"handle": handle, "kind": FAILED,
                                  "reason": f"killed: still running {grace_s:g} s after SIGTERM"})
                _signal_group(pid, signal.SIGKILL)

    def _retire(self, handle: str, *, has_exited: bool) -> None:
        """The job is over as far as the journal goes; keep its file for idempotent submits.

        After an ``exited`` line the wrapper is on its way out (it may not be gone yet). After a
        ``failed`` line (timeout, grace over) a live process is still being stopped: housekeeping
        keeps the file until it is gone."""
        src = self.jobs_dir / f"{handle}.json"
        job = self._read_job(src)
        if not has_exited and job.get("pid") and _alive(job["pid"]):
            return
        try:
            src.rename(self.done_dir / src.name)
        except FileNotFoundError:
            pass

    def _is_abandoned(self, job_file: Path) -> bool:
        job = self._read_job(job_file)
        return "pid" not in job and time.time() - job_file.stat().st_mtime > 5

    @staticmethod
    def _read_job(path: Path) -> dict:
        try:
            return json.loads(path.read_text() or "{}")
        except (FileNotFoundError, ValueError):
            return {}

    def _write_job(self, handle: str, job: dict) -> None:
        tmp = self.jobs_dir / f".{handle}.tmp"
        tmp.write_text(json.dumps(job))
        tmp.replace(self.jobs_dir / f"{handle}.json")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
