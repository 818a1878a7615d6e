"""The API half of the fake Kubernetes cluster: an object store with resourceVersions and a
history, served over real HTTP/1.1 by ``http.server`` to the real ``kubernetes`` client.

Covers what Trellis uses: batch/v1 Jobs, v1 Pods (with ``/status`` and ``/log``), Nodes and
PersistentVolumeClaims. Create (409 on duplicates), get, list and watch with label selectors
(and ``metadata.name`` / ``metadata.namespace`` field selectors), resourceVersions,
``timeoutSeconds``, bookmarks, 410 Gone for a compacted resourceVersion, merge and JSON patches,
and delete with propagation policies (Foreground and Background delete owned objects; Orphan, the
default for Jobs, leaves them behind and strips their owner reference, as the real API does).
The controllers that move objects along live in ``kube.py``.
"""
from __future__ import annotations

import bisect
import copy
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    api_version: str
    is_namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


JOBS = Resource("jobs", "Job", "batch/v1")
PODS = Resource("pods", "Pod", "v1")
NODES = Resource("nodes", "Node", "v1", is_namespaced=False)
PVCS = Resource("persistentvolumeclaims", "PersistentVolumeClaim", "v1")
RESOURCES = {(r.api_version, r.plural): r for r in (JOBS, PODS, NODES, PVCS)}
BY_KIND = {r.kind: r for r in RESOURCES.values()}

# /api/v1[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]  and the same under /apis/<group>/<version>
_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+/[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}


def timestamp(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


# ------------------------------------------------------------------------------ selectors

_SET_EXPR = re.compile(r"^\s*(!?)([^\s!=,()]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_label_selector(text: str | None) -> Callable[[dict], bool]:
    """Equality (``a=b``, ``a==b``, ``a!=b``), existence (``a``, ``!a``) and set (``a in (x,y)``,
    ``a notin (x)``) requirements, comma-separated, all of which must hold."""
    if not text:
        return lambda labels: True
    parts = re.split(r",(?![^(]*\))", text)
    tests: list[Callable[[dict], bool]] = []
    for part in parts:
        if "!=" in part:
            k, v = (s.strip() for s in part.split("!=", 1))
            tests.append(lambda ls, k=k, v=v: ls.get(k) != v)
        elif "=" in part:
            k, v = (s.strip() for s in part.replace("==", "=").split("=", 1))
            tests.append(lambda ls, k=k, v=v: ls.get(k) == v)
        else:
            m = _SET_EXPR.match(part)
            if not m:
                raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
            negate, key, op, values = m.groups()
            if op:
                allowed = {v.strip() for v in values.split(",")}
                tests.append(lambda ls, k=key, a=allowed, is_in=op == "in": (ls.get(k) in a) == is_in)
            else:
                tests.append(lambda ls, k=key, neg=bool(negate): (k in ls) != neg)
    return lambda labels: all(t(labels) for t in tests)


def parse_field_selector(text: str | None) -> Callable[[dict], bool]:
    if not text:
        return lambda obj: True
    wanted = []
    for part in text.split(","):
        negate = "!=" in part
        k, v = part.replace("!=", "=").replace("==", "=").split("=", 1)
        path = k.strip().split(".")
        if path not in (["metadata", "name"], ["metadata", "namespace"], ["status", "phase"], ["spec", "nodeName"]):
            raise ApiError(400, "BadRequest", f'field label not supported: "{k.strip()}"')
        wanted.append((path, v.strip(), negate))

    def test(obj: dict) -> bool:
        for path, value, negate in wanted:
            actual = obj.get(path[0], {}).get(path[1], "")
            if (actual == value) == negate:
                return False
        return True

    return test


# ------------------------------------------------------------------------------ the store


@dataclass
class Change:
    rv: int
    resource: Resource
    namespace: str
    labels: dict
    type: str
    data: str  # the object as JSON, frozen at the time of the change
    obj: dict


class Store:
    """Objects by (resource, namespace, name), a global resourceVersion, and the change history
    watches are served from. Everything happens under one condition variable."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.objects: dict[tuple[Resource, str, str], dict] = {}
        self.rv = 0
        self.history: list[Change] = []
        self.history_rvs: list[int] = []
        self.compacted_rv = 0
        self.max_history = 200_000
        self.on_change: list[Callable[[Change], None]] = []

    # ---- reads

    def get(self, res: Resource, ns: str, name: str) -> dict:
        with self.cond:
            obj = self.objects.get((res, ns, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{res.plural}{"." + res.group if res.group else ""} "{name}" not found',
                               {"name": name, "group": res.group, "kind": res.plural})
            return obj

    def find(self, res: Resource, ns: str | None = None, selector: Callable[[dict], bool] | None = None,
             fields: Callable[[dict], bool] | None = None) -> list[dict]:
        with self.cond:
            return [o for (r, n, _), o in self.objects.items()
                    if r is res and (ns is None or n == ns)
                    and (selector is None or selector(o["metadata"].get("labels") or {}))
                    and (fields is None or fields(o))]

    # ---- writes (each records a change)

    def create(self, res: Resource, ns: str, obj: dict) -> dict:
        with self.cond:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name")
            if not name:
                raise ApiError(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value")
            if (res, ns, name) in self.objects:
                raise ApiError(409, "AlreadyExists", f'{res.plural}{"." + res.group if res.group else ""} "{name}" already exists',
                               {"name": name, "group": res.group, "kind": res.plural})
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            if res.is_namespaced:
                meta["namespace"] = ns
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=timestamp(), generation=1)
            meta.setdefault("labels", {})
            meta.setdefault("annotations", {})
            obj.setdefault("status", {})
            self.objects[(res, ns, name)] = obj
            self._record(res, "ADDED", obj)
            return obj

    def update(self, res: Resource, obj: dict) -> dict:
        with self.cond:
            self._record(res, "MODIFIED", obj)
            return obj

    def remove(self, res: Resource, obj: dict) -> None:
        """Gone for good: the DELETED event carries the object's last state. An owner deleted in
        the foreground goes too once this was its last dependent."""
        with self.cond:
            meta = obj["metadata"]
            if self.objects.pop((res, meta.get("namespace", ""), meta["name"]), None) is not None:
                self._record(res, "DELETED", obj)
            for ref in meta.get("ownerReferences") or ():
                self._finish_foreground(ref.get("uid"))

    def _finish_foreground(self, uid: str | None) -> None:
        owner = next(((r, o) for (r, _, _), o in list(self.objects.items()) if o["metadata"]["uid"] == uid), None)
        if owner is None or "foregroundDeletion" not in (owner[1]["metadata"].get("finalizers") or ()):
            return
        if not self.dependents(uid):
            owner[1]["metadata"]["finalizers"] = [f for f in owner[1]["metadata"]["finalizers"]
                                                  if f != "foregroundDeletion"]
            self.remove(*owner)

    def delete(self, res: Resource, ns: str, name: str, propagation: str | None, grace_s: int | None = None) -> dict:
        """Delete with a propagation policy. Jobs default to Orphan (a legacy of batch/v1).

        A pod deleted with a grace period (``gracePeriodSeconds`` > 0) is only marked: its
        containers get SIGTERM and the kubelet (kube.py) removes it when they have exited or the
        grace period is over. A Foreground delete passes its grace period on to the owned pods (a
        simplification: the real garbage collector gives them their own
        ``terminationGracePeriodSeconds``) and the owner stays, being deleted, until they are gone.
        """
        with self.cond:
            obj = self.get(res, ns, name)
            policy = propagation or ("Orphan" if res is JOBS else "Background")
            uid = obj["metadata"]["uid"]
            meta = obj["metadata"]
            if res is PODS and grace_s:
                if not meta.get("deletionTimestamp") or grace_s < meta.get("deletionGracePeriodSeconds", grace_s + 1):
                    meta["deletionTimestamp"] = timestamp(time.time() + grace_s)
                    meta["deletionGracePeriodSeconds"] = int(grace_s)
                    self.update(res, obj)
            elif policy == "Foreground":
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = timestamp()
                    meta["deletionGracePeriodSeconds"] = int(grace_s or 0)
                    meta["finalizers"] = [*meta.get("finalizers", []), "foregroundDeletion"]
                    self.update(res, obj)
                for dep_res, dep in self.dependents(uid):
                    self.delete(dep_res, dep["metadata"]["namespace"], dep["metadata"]["name"], "Background",
                                grace_s)
                self._finish_foreground(uid)  # at once if no dependent is still terminating
            elif policy == "Orphan":
                for dep_res, dep in self.dependents(uid):
                    dep["metadata"]["ownerReferences"] = [o for o in dep["metadata"]["ownerReferences"] if o["uid"] != uid]
                    self.update(dep_res, dep)
                self.remove(res, obj)
            else:  # Background: the owner goes now, the garbage collector takes its dependents
                self.remove(res, obj)
                self.collect_garbage()
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": res.group, "kind": res.plural, "uid": uid}}

    def dependents(self, uid: str) -> list[tuple[Resource, dict]]:
        with self.cond:
            return [(r, o) for (r, _, _), o in list(self.objects.items())
                    if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences") or ())]

    def collect_garbage(self) -> None:
        """Delete objects whose owners are all gone (what kube-controller-manager's GC does)."""
        with self.cond:
            uids = {o["metadata"]["uid"] for o in self.objects.values()}
            for (res, ns, name), obj in list(self.objects.items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if refs and not any(ref["uid"] in uids for ref in refs):
                    self.remove(res, obj)

    def compact(self) -> None:
        """Forget the history: a watch from an older resourceVersion now gets 410 Gone."""
        with self.cond:
            self.compacted_rv = self.rv
            self.history.clear()
            self.history_rvs.clear()

    def _record(self, res: Resource, type_: str, obj: dict) -> None:
        self.rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self.rv)
        change = Change(self.rv, res, meta.get("namespace", ""), dict(meta.get("labels") or {}), type_,
                        json.dumps(obj), obj)
        self.history.append(change)
        self.history_rvs.append(self.rv)
        if len(self.history) > self.max_history:
            drop = len(self.history) - self.max_history // 2
            self.compacted_rv = self.history_rvs[drop - 1]
            del self.history[:drop], self.history_rvs[:drop]
        for hook in self.on_change:
            hook(change)
        self.cond.notify_all()

    def changes_after(self, rv: int) -> list[Change]:
        with self.cond:
            return self.history[bisect.bisect_right(self.history_rvs, rv):]


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def json_patch(target: dict, ops: list[dict]) -> dict:
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = target
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if op["op"] in ("add", "replace"):
            if isinstance(node, list):
                node.insert(len(node) if last == "-" else int(last), op["value"]) if op["op"] == "add" else \
                    node.__setitem__(int(last), op["value"])
            else:
                node[last] = op["value"]
        elif op["op"] == "remove":
            node.pop(int(last) if isinstance(node, list) else last)
        else:
            raise ApiError(422, "Invalid", f"unsupported JSON patch op {op['op']!r}")
    return target


# ------------------------------------------------------------------------------ HTTP


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: "Api"):
        self.api = api
        super().__init__(("127.0.0.1", 0), Handler)

    def get_request(self):
        sock, addr = super().get_request()
        # Nagle's algorithm and delayed ACKs together stall each small response ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        api = self.server.api
        api.requests += 1
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
            m = _PATH.match(url.path)
            if not m:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
            res = RESOURCES.get((m["core"] or m["group"], m["plural"]))
            if res is None:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
            if api.fault is not None and (fault := api.fault(method, url.path)) is not None:
                raise fault
            result = api.handle(self, method, res, m["ns"], m["name"], m["sub"], query, body,
                                self.headers.get("Content-Type", ""))
        except ApiError as exc:
            self._send_json(exc.code, exc.status())
            return
        except BrokenPipeError:
            self.close_connection = True
            return
        if result is not None:
            self._send(*result)

    def _send_json(self, code: int, payload: Any) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json")

    def _send(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # ---- chunked streaming (watches, followed logs)

    def start_stream(self, content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self) -> None:
        """Drop the connection mid-stream, as a network failure would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Api:
    """Request handling over a Store. ``fault`` may return an ApiError to inject for a request."""

    def __init__(self, store: Store, *, bookmark_interval_s: float = 1.0, logs: Callable[[dict], str] | None = None):
        self.store = store
        self.bookmark_interval_s = bookmark_interval_s
        self.logs = logs or (lambda pod: "")
        self.requests = 0
        self.fault: Callable[[str, str], ApiError | None] | None = None
        self.watch_generation = 0
        self.stalled_before = 0  # watches started before this generation go silent
        self.dropped_before = 0  # watches started before this generation are cut off
        self.is_closing = False
        self.watching = 0  # watches open now

    def handle(self, h: Handler, method: str, res: Resource, ns: str | None, name: str | None, sub: str | None,
               query: dict, body: Any, content_type: str) -> tuple[int, bytes, str] | None:
        """Answer one request: (code, body, content type), or None when it streamed its answer."""
        if method == "GET" and name is None and query.get("watch") in ("true", "1"):
            self.watch(h, res, ns, parse_label_selector(query.get("labelSelector")),
                       parse_field_selector(query.get("fieldSelector")), query)
            return None
        ns_key = (ns or "") if res.is_namespaced else ""
        if method == "GET" and sub == "log":
            pod = self.store.get(res, ns_key, name)
            if query.get("follow") in ("true", "1"):
                self.follow_log(h, pod)
                return None
            with self.store.cond:
                return 200, self.logs(pod).encode(), "text/plain"
        with self.store.cond:  # answers are serialised under the lock: controllers change objects
            code, payload = self._answer(method, res, ns, ns_key, name, sub, query, body, content_type)
            return code, json.dumps(payload).encode(), "application/json"

    def _answer(self, method: str, res: Resource, ns: str | None, ns_key: str, name: str | None, sub: str | None,
                query: dict, body: Any, content_type: str) -> tuple[int, Any]:
        store = self.store
        if method == "GET" and name is None:
            items = store.find(res, ns if res.is_namespaced else None, parse_label_selector(query.get("labelSelector")),
                               parse_field_selector(query.get("fieldSelector")))
            return 200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                         "metadata": {"resourceVersion": str(store.rv)}, "items": items}
        if method == "POST" and name is None:
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the request body must be an object")
            return 201, store.create(res, ns_key, copy.deepcopy(body))
        if name is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if method == "GET":
            return 200, store.get(res, ns_key, name)
        if method == "PATCH":
            obj = store.get(res, ns_key, name)
            patched = json_patch(copy.deepcopy(obj), body) if "json-patch" in content_type or isinstance(body, list) \
                else merge_patch(copy.deepcopy(obj), body)
            if sub == "status":  # the status subresource changes only the status
                obj["status"] = patched.get("status", {})
            else:
                patched["status"], patched["metadata"]["uid"] = obj.get("status", {}), obj["metadata"]["uid"]
                obj.clear()
                obj.update(patched)
            return 200, store.update(res, obj)
        if method == "PUT":
            obj = store.get(res, ns_key, name)
            if sub == "status":
                obj["status"] = body.get("status", {})
            else:
                keep = {k: obj["metadata"][k] for k in ("uid", "creationTimestamp") if k in obj["metadata"]}
                body = copy.deepcopy(body)
                body["metadata"].update(keep)
                body["status"] = obj.get("status", {})
                obj.clear()
                obj.update(body)
            return 200, store.update(res, obj)
        if method == "DELETE":
            policy = query.get("propagationPolicy") or (body or {}).get("propagationPolicy")
            if query.get("orphanDependents") == "true" or (body or {}).get("orphanDependents") is True:
                policy = "Orphan"
            grace = query.get("gracePeriodSeconds", (body or {}).get("gracePeriodSeconds"))
            return 200, store.delete(res, ns_key, name, policy, None if grace in (None, "") else int(grace))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    # ---- watch

    def watch(self, h: Handler, res: Resource, ns: str | None, selector, fields, query: dict) -> None:
        store = self.store
        timeout_s = float(query.get("timeoutSeconds") or 1800)
        is_bookmarking = query.get("allowWatchBookmarks") in ("true", "1")
        rv_text = query.get("resourceVersion", "")
        deadline = time.monotonic() + timeout_s
        with store.cond:
            self.watch_generation += 1
            generation = self.watch_generation
            if rv_text in ("", "0"):  # "now": synthetic ADDED events for what exists
                initial = [json.dumps({"type": "ADDED", "object": o}).encode() + b"\n"
                           for o in store.find(res, ns if res.is_namespaced else None, selector, fields)]
                position = store.rv
            else:
                initial, position = [], int(rv_text)
                if position < store.compacted_rv:
                    initial = None
        h.start_stream()
        with store.cond:
            self.watching += 1
        try:
            self._stream(h, res, ns, selector, fields, initial, position, deadline, generation, is_bookmarking)
        finally:
            with store.cond:
                self.watching -= 1

    def _stream(self, h: Handler, res: Resource, ns: str | None, selector, fields, initial: list | None,
                position: int, deadline: float, generation: int, is_bookmarking: bool) -> None:
        store = self.store
        if initial is None:
            gone = ApiError(410, "Expired", f"too old resource version: {position} ({store.compacted_rv})").status()
            h.send_chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            h.end_stream()
            return
        if initial:
            h.send_chunk(b"".join(initial))
        next_bookmark = time.monotonic() + self.bookmark_interval_s
        while True:
            with store.cond:
                while True:
                    now = time.monotonic()
                    if self.is_closing or generation <= self.dropped_before:
                        h.cut()
                        return
                    if generation <= self.stalled_before:  # a dead connection: nothing, not even its end
                        store.cond.wait(0.5)
                        continue
                    changes = store.changes_after(position)
                    if changes or now >= deadline or (is_bookmarking and now >= next_bookmark):
                        break
                    store.cond.wait(min(deadline, next_bookmark if is_bookmarking else deadline) - now)
                head_rv = store.rv
            lines = [b'{"type":"%s","object":%s}\n' % (c.type.encode(), c.data.encode())
                     for c in changes
                     if c.resource is res and (ns is None or not res.is_namespaced or c.namespace == ns)
                     and selector(c.labels) and fields(c.obj)]
            if changes:
                position = changes[-1].rv
            try:
                if lines:
                    h.send_chunk(b"".join(lines))
                if is_bookmarking and time.monotonic() >= next_bookmark:
                    if not changes:
                        position = max(position, head_rv)
                    mark = {"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version,
                                                           "metadata": {"resourceVersion": str(position)}}}
                    h.send_chunk(json.dumps(mark).encode() + b"\n")
                    next_bookmark = time.monotonic() + self.bookmark_interval_s
                if time.monotonic() >= deadline:
                    h.end_stream()
                    return
            except (BrokenPipeError, ConnectionResetError):
                h.close_connection = True
                return

    def stall_watches(self) -> None:
        """Watches open now go silent without closing: a dead connection the client must notice."""
        with self.store.cond:
            self.stalled_before = self.watch_generation
            self.store.cond.notify_all()

    def drop_watches(self) -> None:
        """Watches open now are cut off mid-stream."""
        with self.store.cond:
            self.dropped_before = self.watch_generation
            self.store.cond.notify_all()

    # ---- logs

    def follow_log(self, h: Handler, pod: dict) -> None:
        h.start_stream("text/plain")
        sent = 0
        while True:
            with self.store.cond:
                text = self.logs(pod)
                is_done = pod["status"].get("phase") in ("Succeeded", "Failed") or self.is_closing or \
                    (PODS, pod["metadata"]["namespace"], pod["metadata"]["name"]) not in self.store.objects
                if len(text) == sent and not is_done:
                    self.store.cond.wait(0.5)
                    continue
            if len(text) > sent:
                h.send_chunk(text[sent:].encode())
                sent = len(text)
            if is_done:
                h.end_stream()
                return


def serve(api: Api) -> tuple[Server, threading.Thread]:
    server = Server(api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name="fake-kube-api")
    thread.start()
    return server, thread


def iter_objects(store: Store, res: Resource) -> Iterator[dict]:
    with store.cond:
        yield from [o for (r, _, _), o in store.objects.items() if r is res]
