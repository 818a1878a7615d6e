"""One kind of object (jobs, pods or nodes) listed, then watched from the last resourceVersion, in
a thread: it relists on 410 Gone, reconnects with backoff, and notices a silently dead watch
through a read timeout a little longer than the server-side ``timeoutSeconds``."""
from __future__ import annotations

import json
import logging
import queue
import random
import socket
import threading
from typing import Any, Callable

from kubernetes.client import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger(__name__)

# list_() -> (items, resourceVersion);  watch_(rv, read_timeout_s) -> a raw streaming response
ListCall = Callable[[], tuple[list[dict], str]]
WatchCall = Callable[[str, float], Any]


class Stream:
    """List then watch one kind (jobs, pods or nodes) in a thread, putting what it sees in the inbox as
    ``(kind, "relist" | "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK", payload, rv)``."""

    def __init__(self, kind: str, *, list_: ListCall, watch_: WatchCall, rv: str | None, inbox: queue.Queue,
                 watch_timeout_s: float, backoff_max_s: float):
        self.kind, self.list_, self.watch_, self.rv, self.inbox = kind, list_, watch_, rv, inbox
        self.watch_timeout_s, self.backoff_max_s = watch_timeout_s, backoff_max_s
        self._stopping = threading.Event()
        self._response = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"k8s-watch-{kind}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:  # unblock the read
            try:
                response.connection.sock.shutdown(socket.SHUT_RDWR)
            except (AttributeError, OSError):
                pass

    def _run(self) -> None:
        backoff = 0.05
        while not self._stopping.is_set():
            try:
                if self.rv is None:
                    items, self.rv = self.list_()
                    self.inbox.put((self.kind, "relist", items, self.rv))
                self._follow()
                backoff = 0.05  # the server ended the watch at its timeout: go on at once
            except Gone:
                log.info("%s watch: resourceVersion %s is too old; relisting", self.kind, self.rv)
                self.rv = None
            except Exception as exc:  # connection refused, cut off, read timeout, 5xx...
                if self._stopping.is_set():
                    return
                log.warning("%s watch failed (%s); reconnecting in %.2f s", self.kind, exc, backoff)
                self._stopping.wait(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.backoff_max_s)

    def _follow(self) -> None:
        try:
            response = self.watch_(self.rv, self.watch_timeout_s + 2)
        except ApiException as exc:
            if exc.status == 410:
                raise Gone from exc
            raise
        self._response = response
        try:
            for line in iter_resp_lines(response):
                if self._stopping.is_set():
                    return
                if not line:
                    continue
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone()
                    raise RuntimeError(f"{obj.get('reason')}: {obj.get('message')}")
                self.rv = obj["metadata"]["resourceVersion"]
                self.inbox.put((self.kind, event["type"], obj, self.rv))
        finally:
            self._response = None
            response.close()  # a watch connection is not worth reusing; a cut one must not be
            response.release_conn()


class Gone(Exception):
    """The resourceVersion to resume from was compacted away (HTTP 410)."""

