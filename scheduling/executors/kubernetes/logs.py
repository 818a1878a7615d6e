"""Pod logs kept as files that Trellis serves: the step log endpoint reads them by byte offset.

While a step's pod runs, a thread follows its log (``follow=true``) into the step's log file;
when its job ends the file is completed from the pod's whole log *before* the end is reported,
so a step that is final in the database has its whole log on disk (and the log stays readable
after the pod is garbage-collected). A follow that reached the end of its stream has the whole
log already (the stream ends when the container does): then nothing is read again. A copy that
starts again (the watcher restarted, a follow was cut) skips the bytes the file holds already: a
container's log only grows.

The API call itself is the executor's (``read_log``); this module holds threads and files only.
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from kubernetes.client import ApiException

from ..base import STARTED, ExecutorEvent

log = logging.getLogger(__name__)

# read_log(namespace, pod, follow) -> a raw (not preloaded) urllib3 response with the log's bytes
ReadLog = Callable[[str, str, bool], Any]
JOIN_S = 0.5  # how long a job's end waits for its follower to see the end of the stream


def log_file(log_dir: str | os.PathLike, run_id: int | str, step: str, attempt: int | str) -> Path:
    """Where the log of one attempt of one step is kept: ``<log_dir>/<run>/logs/<step>.<attempt>.log``
    (the layout of the run's working area, so a run's logs sit beside its other files)."""
    return Path(log_dir) / str(run_id) / "logs" / f"{step}.{attempt}.log"


def copy_log(read_log: ReadLog, namespace: str, pod: str, path: Path, *, follow: bool,
             on_response: Callable[[Any], None] = lambda r: None) -> None:
    """Make the file at ``path`` hold the pod's log: append what it has beyond the file's size.

    Any number of copies may run at once (a follower and a job's end, two watchers during a
    deploy): each byte range is written under a lock and only past the file's end, so the file
    stays a prefix of the log and nothing is written twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    response = read_log(namespace, pod, follow)
    on_response(response)
    try:
        with open(path, "ab") as f:
            at = 0  # where ``data`` starts in the log
            for data in response.stream(65536, decode_content=False):
                end = at + len(data)
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    size = os.fstat(f.fileno()).st_size
                    if at <= size < end:
                        f.write(data[size - at:])
                        f.flush()
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
                at = end
    finally:
        response.release_conn()


class _Follower:
    def __init__(self, read_log: ReadLog, namespace: str, pod: str, path: Path):
        self.args = (read_log, namespace, pod, path)
        self.stopping = threading.Event()
        self.response = None
        self.is_whole = False  # the followed stream ended: the container did, and the file has it all
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"pod-log-{pod}")
        self.thread.start()

    def _run(self) -> None:
        backoff = 0.1
        while not self.stopping.is_set():
            try:
                copy_log(*self.args, follow=True, on_response=self._keep)
                self.is_whole = not self.stopping.is_set()  # (a stop cuts the stream short)
                return  # the stream ended: the container did
            except ApiException as exc:
                if exc.status == 404:  # the pod is gone; the job's end completes what it can
                    return
                # 400 while the container is still being created: try again shortly
            except Exception as exc:  # cut off, reset: follow again, skipping what is copied
                if self.stopping.is_set():
                    return
                log.info("following the log of pod %s failed (%s); again in %.1f s", self.args[2], exc, backoff)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _keep(self, response) -> None:
        self.response = response

    def stop(self) -> None:
        self.stopping.set()
        response = self.response
        if response is not None:
            try:
                response.connection.sock.shutdown(socket.SHUT_RDWR)
            except (AttributeError, OSError):
                pass


class LogCopier:
    """Reads the events the executor is about to report: a pod started -> follow its log; a job
    ended -> finish its log file first."""

    def __init__(self, read_log: ReadLog, log_dir: str | os.PathLike):
        self.read_log = read_log
        self.log_dir = Path(log_dir)
        self.followers: dict[str, _Follower] = {}

    def take(self, events: Iterable[ExecutorEvent]) -> None:
        events = list(events)
        ending = {e.handle for e in events if e.kind != STARTED}
        for event in events:
            where = self._where(event)
            if event.kind == STARTED and where and event.handle not in ending and event.handle not in self.followers:
                self.followers[event.handle] = _Follower(self.read_log, *where)
            elif event.kind != STARTED:
                self.finish(event.handle, where)

    def finish(self, job: str, where: tuple[str, str, Path] | None) -> None:
        follower = self.followers.pop(job, None)
        if follower is not None:
            follower.thread.join(JOIN_S)
            if follower.thread.is_alive():
                follower.stop()
                follower.thread.join(JOIN_S)
            if follower.thread.is_alive():  # two writers would duplicate bytes: leave it the file
                log.warning("the log follower of %s did not stop; its log may be incomplete", job)
                return
            if follower.is_whole:  # no need to read the whole log again
                return
        if where is None:
            return
        try:
            copy_log(self.read_log, *where, follow=False)
        except ApiException as exc:
            if exc.status not in (400, 404):  # never started, or gone: the file keeps what was followed
                log.warning("could not read the log of %s: %s", job, exc.reason)
        except Exception as exc:
            log.warning("could not read the log of %s: %s", job, exc)

    def stop(self) -> None:
        for follower in self.followers.values():
            follower.stop()
        self.followers.clear()

    def _where(self, event: ExecutorEvent) -> tuple[str, str, Path] | None:
        x = event.extra
        if not all(x.get(k) for k in ("pod", "namespace", "run", "step", "attempt")):
            return None
        return x["namespace"], x["pod"], log_file(self.log_dir, x["run"], x["step"], x["attempt"])
