"""The Kubernetes executor: each step attempt is a batch/v1 Job; its pod's fate becomes events.

Every API call Trellis makes lives in this module, through one ``ApiClient`` built at start-up
(``build_api_client``) and passed in. Handles are job names. ``watch`` follows two streams, Jobs
and Pods (by Trellis's label selector), each in a thread that lists, watches from the last
resourceVersion, relists on 410 Gone and reconnects with backoff; a read timeout a little longer
than the server-side ``timeoutSeconds`` notices a watch that died silently. A ``Tracker`` turns
what the streams report into events:

- STARTED when the pod runs (with its node), once per job;
- EXITED / FAILED when the *Job* finishes: Complete is exit 0; Failed is explained from its pod
  (the exit code, OOMKilled with the memory limit, Evicted with the kubelet's message, deleted)
  or its condition (DeadlineExceeded); a Job deleted before it finished is FAILED too;
- FAILED for a pod Pending (Unschedulable, ImagePullBackOff, ...) longer than the pending
  timeout, with the scheduler's or kubelet's message; its Job is then deleted so that its quota
  is released.

The position is both streams' resourceVersions (``jobs=<rv>,pods=<rv>``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import queue
import random
import re
import socket
import threading
import time
from calendar import timegm
from dataclasses import replace
from typing import Any, Callable, Iterator

from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.watch.watch import iter_resp_lines

from ..core.types import Capacity, Node, Request
from .base import EXITED, FAILED, STARTED, ExecutorEvent, JobSpec
from .kube_logs import LogCopier, log_file
from .local import describe_exit
from .manifests import (ATTEMPT, GPU_RESOURCE, RUN, STEP, STEP_CONTAINER, KubernetesConfig, job_manifest,
                        pvc_manifest, pvc_name)

log = logging.getLogger(__name__)

HOLD_S = 2.0  # the longest a Job's end waits for its pod's events from the other stream
LOG_READ_TIMEOUT_S = 600  # a followed log quiet this long is followed again (the copy skips what it has)
JOB_NAME_LABEL = "job-name"  # set on a Job's pods by the job controller (with batch.kubernetes.io/job-name)


def build_api_client(*, host: str = "", kubeconfig: str = "", context: str = "", is_in_cluster: bool = False,
                     verify_ssl: bool = True) -> client.ApiClient:
    """The one API client, configured explicitly (the client library reads KUBECONFIG only once,
    at import, so nothing is left to its globals)."""
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    if host:
        configuration.host = host
        configuration.verify_ssl = verify_ssl
    elif kubeconfig:
        kube_config.load_kube_config(config_file=kubeconfig, context=context or None,
                                     client_configuration=configuration)
    elif is_in_cluster:
        kube_config.load_incluster_config(client_configuration=configuration)
    else:
        raise ValueError("TRELLIS_EXECUTOR=kubernetes needs TRELLIS_K8S_API_HOST, TRELLIS_K8S_KUBECONFIG "
                         "or to run inside a cluster")
    return client.ApiClient(configuration)


class KubernetesExecutor:
    def __init__(self, *, api_client: client.ApiClient, config: KubernetesConfig, watch_timeout_s: int = 300,
                 capacity_ttl_s: float = 5.0, backoff_max_s: float = 10.0, log_dir: str | os.PathLike | None = None):
        """``log_dir``: where the watcher keeps each step's pod log as a file (see kube_logs.py);
        None keeps none (the step log endpoint then has nothing to show)."""
        self.api_client = api_client
        self.log_dir = log_dir
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.config = config
        self.watch_timeout_s = watch_timeout_s
        self.capacity_ttl_s = capacity_ttl_s
        self.backoff_max_s = backoff_max_s
        self._claims: set[tuple[str, str]] = set()  # run volumes known to exist
        self._capacity: tuple[float, dict[str, Capacity]] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ interface

    def workdir(self, run_id: int) -> str:
        return self.config.workdir(run_id)

    def log_path(self, spec: JobSpec) -> str:
        """Where Trellis reads the job's log: the file the watcher copies the pod's log into (the
        spec's own log path is inside the run's volume, which only the pods mount)."""
        if self.log_dir is None:
            return spec.log_path
        return str(log_file(self.log_dir, spec.run_id, spec.step, spec.attempt))

    def submit(self, spec: JobSpec) -> str:
        """Create the run's volume if missing, then the Job; "already exists" counts as done."""
        namespace = self.config.namespace(spec.team)
        manifest = job_manifest(spec, self.config)  # first: a bad spec must not leave a volume behind
        claim = (namespace, pvc_name(spec.run_id))
        if claim not in self._claims:
            _create(lambda: self.core.create_namespaced_persistent_volume_claim(
                namespace, pvc_manifest(run_id=spec.run_id, team=spec.team, config=self.config),
                _preload_content=False))
            self._claims.add(claim)
        _create(lambda: self.batch.create_namespaced_job(namespace, manifest, _preload_content=False))
        return spec.name

    def cancel(self, handle: str) -> None:
        """Delete the Job in the foreground: its pods (running, pending or being created) go first."""
        namespace = self._namespace_of(handle)
        if namespace is None:
            return
        try:
            _read(self.batch.delete_namespaced_job(handle, namespace, propagation_policy="Foreground",
                                                   _preload_content=False))
        except ApiException as exc:
            if exc.status != 404:
                raise

    def list_active(self) -> list[str]:
        """Trellis's Jobs that have not finished and are not being deleted."""
        return sorted(j["metadata"]["name"] for j in self._list("jobs")[0]
                      if not job_outcome(j) and not j["metadata"].get("deletionTimestamp"))

    def capacity(self) -> Capacity:
        by_class = self.capacity_by_class()
        total = Capacity(sum(c.cpu for c in by_class.values()), sum(c.memory_mb for c in by_class.values()),
                         sum(c.gpu for c in by_class.values()))
        largest = [c.largest_node for c in by_class.values() if c.largest_node]
        if largest:  # per resource: validation should refuse only what fits on no node at all
            total = Capacity(total.cpu, total.memory_mb, total.gpu, largest_node=Request(
                max(n.cpu for n in largest), max(n.memory_mb for n in largest), max(n.gpu for n in largest)),
                nodes=tuple(n for c in by_class.values() for n in c.nodes))
        return total

    def capacity_by_class(self) -> dict[str, Capacity]:
        """Allocatable cpu, memory and GPUs of the schedulable, ready nodes, by GPU class ("" for
        nodes without the class label). Cached for ``capacity_ttl_s`` (a node watch would keep it
        current without the list: not done yet)."""
        with self._lock:
            if self._capacity and time.monotonic() - self._capacity[0] < self.capacity_ttl_s:
                return self._capacity[1]
        nodes = _read(self.core.list_node(_preload_content=False))["items"]
        by_class = capacity_by_class(schedulable_nodes(nodes, self.config.gpu_class_label))
        with self._lock:
            self._capacity = (time.monotonic(), by_class)
        return by_class

    def watch(self, since: str | None) -> Iterator[ExecutorEvent | None]:
        """Events after position ``since`` (None: everything that exists now), forever; None
        whenever it has caught up, and at least every 0.25 s when idle."""
        position = parse_position(since)
        tracker = Tracker(self.config, fetch_pods=self._pods_of, release=self._release)
        tracker.pods_rv = position["pods"]
        inbox: queue.Queue = queue.Queue()
        copier = LogCopier(self._read_log, self.log_dir) if self.log_dir is not None else None
        streams = [Stream(kind, self, position[kind], inbox) for kind in ("jobs", "pods")]
        for stream in streams:
            stream.start()
        # Until both streams have listed, events wait here: the caller sees a first batch that
        # holds the whole current state. Each event's position is the one taken with it (a
        # position missing a stream means "relist it": repeats, never gaps).
        early: list[ExecutorEvent] = []
        try:
            while True:
                try:
                    item = inbox.get(timeout=0.25)
                except queue.Empty:
                    item = None
                while item is not None:
                    kind, what, payload, rv = item
                    tracker.jobs_rv = position["jobs"]  # where to resume should a job's end be held
                    position[kind] = rv
                    early += [_at(e, tracker.resume_point(position)) for e in tracker.take(kind, what, payload, rv)]
                    try:
                        item = inbox.get_nowait()
                    except queue.Empty:
                        item = None
                if None in position.values():
                    continue
                early += [_at(e, tracker.resume_point(position)) for e in tracker.overdue(time.time())]
                if copier is not None and early:
                    copier.take(early)  # before they are reported: a final step's log file is whole
                yield from early
                early = []
                yield None  # caught up
        finally:
            for stream in streams:
                stream.stop()
            if copier is not None:
                copier.stop()

    # ------------------------------------------------------------------ internals

    def _list(self, kind: str) -> tuple[list[dict], str]:
        """Every Trellis Job or Pod, and the resourceVersion to watch from."""
        api = self.batch if kind == "jobs" else self.core
        selector = self.config.selector
        if self.config.is_namespace_per_team:
            call = api.list_job_for_all_namespaces if kind == "jobs" else api.list_pod_for_all_namespaces
            data = _read(call(label_selector=selector, _preload_content=False))
        else:
            call = api.list_namespaced_job if kind == "jobs" else api.list_namespaced_pod
            data = _read(call(self.config.namespace_pattern, label_selector=selector, _preload_content=False))
        return data["items"], data["metadata"]["resourceVersion"]

    def _watch_call(self, kind: str, rv: str, read_timeout_s: float):
        api = self.batch if kind == "jobs" else self.core
        options = dict(label_selector=self.config.selector, resource_version=rv, watch=True,
                       allow_watch_bookmarks=True, timeout_seconds=self.watch_timeout_s, _preload_content=False,
                       _request_timeout=(10, read_timeout_s))
        if self.config.is_namespace_per_team:
            call = api.list_job_for_all_namespaces if kind == "jobs" else api.list_pod_for_all_namespaces
            return call(**options)
        call = api.list_namespaced_job if kind == "jobs" else api.list_namespaced_pod
        return call(self.config.namespace_pattern, **options)

    def _namespace_of(self, handle: str) -> str | None:
        if not self.config.is_namespace_per_team:
            return self.config.namespace_pattern
        data = _read(self.batch.list_job_for_all_namespaces(
            label_selector=self.config.selector, field_selector=f"metadata.name={handle}", _preload_content=False))
        return data["items"][0]["metadata"]["namespace"] if data["items"] else None

    def _pods_of(self, namespace: str, job: str) -> list[dict]:
        data = _read(self.core.list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={job}",
                                                   _preload_content=False))
        return data["items"]

    def _read_log(self, namespace: str, pod: str, follow: bool):
        """The step container's log, raw: a stream that ends with the container when following."""
        return self.core.read_namespaced_pod_log(pod, namespace, container=STEP_CONTAINER, follow=follow,
                                                 _preload_content=False,
                                                 _request_timeout=(10, LOG_READ_TIMEOUT_S if follow else 60))

    def _release(self, namespace: str, job: str) -> None:
        try:
            _read(self.batch.delete_namespaced_job(job, namespace, propagation_policy="Foreground",
                                                   _preload_content=False))
        except ApiException as exc:
            if exc.status != 404:
                log.warning("could not delete job %s/%s: %s", namespace, job, exc.reason)


def _create(call: Callable[[], Any]) -> None:
    try:
        _read(call())
    except ApiException as exc:
        if exc.status != 409:
            raise


def _read(response) -> Any:
    """The JSON body of a raw (not preloaded) response; the connection goes back to the pool."""
    try:
        data = response.data
    finally:
        response.release_conn()
    return json.loads(data) if data else None


# ---------------------------------------------------------------------- positions


def parse_position(since: str | None) -> dict[str, str | None]:
    """``jobs=<rv>,pods=<rv>`` -> {"jobs": rv, "pods": rv}; missing parts mean "list first"."""
    position: dict[str, str | None] = {"jobs": None, "pods": None}
    for part in filter(None, (since or "").split(",")):
        key, _, rv = part.partition("=")
        if key in position and rv:
            position[key] = rv
    return position


def _at(event: ExecutorEvent, position: dict[str, str | None]) -> ExecutorEvent:
    text = ",".join(f"{k}={v}" for k, v in position.items() if v)
    return ExecutorEvent(event.handle, event.kind, text, exit_code=event.exit_code, reason=event.reason,
                         node=event.node, extra=event.extra)


# ---------------------------------------------------------------------- streams


class Stream:
    """List then watch one kind (jobs or pods) in a thread, putting what it sees in the inbox as
    ``(kind, "relist" | "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK", payload, rv)``."""

    def __init__(self, kind: str, executor: KubernetesExecutor, rv: str | None, inbox: queue.Queue):
        self.kind, self.executor, self.rv, self.inbox = kind, executor, rv, inbox
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
                    items, self.rv = self.executor._list(self.kind)
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
                backoff = min(backoff * 2, self.executor.backoff_max_s)

    def _follow(self) -> None:
        try:
            response = self.executor._watch_call(self.kind, self.rv, self.executor.watch_timeout_s + 2)
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


# ---------------------------------------------------------------------- the tracker


class Tracker:
    """Turns Job and Pod states into events, each at most once per watch."""

    def __init__(self, config: KubernetesConfig, *, fetch_pods: Callable[[str, str], list[dict]],
                 release: Callable[[str, str], None]):
        self.config = config
        self.fetch_pods = fetch_pods
        self.release = release
        self.pods: dict[str, dict] = {}  # job name -> its pod's last state
        self.active: dict[str, str] = {}  # unfinished job name -> namespace
        self.started: set[str] = set()
        self.ended: set[str] = set()
        self.pending: dict[str, tuple[float, str, str]] = {}  # job -> (pending since, namespace, why)
        self.held: dict[str, tuple[int, float, dict, dict, str | None]] = {}
        # job -> (pod rv to wait for, until, job, pod, jobs rv before the job's end)
        self.pods_rv: str | None = None
        self.jobs_rv: str | None = None  # the jobs stream's position before the change being taken

    def take(self, kind: str, what: str, payload: Any, rv: str) -> list[ExecutorEvent]:
        if kind == "jobs":
            if what == "relist":
                return self._relist_jobs(payload)
            return [] if what == "BOOKMARK" else self.on_job(what, payload)
        self.pods_rv = rv
        if what == "relist":
            events = self._relist_pods(payload)
        else:
            events = [] if what == "BOOKMARK" else self.on_pod(what, payload)
        return events + self.release_held() if self.held else events

    def on_pod(self, what: str, pod: dict) -> list[ExecutorEvent]:
        job = (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL)
        if not job:
            return []
        if what == "DELETED":
            self.pods[job] = {**pod, "deleted": True}
            self.pending.pop(job, None)
            return []
        self.pods[job] = pod
        phase = pod.get("status", {}).get("phase")
        if phase == "Pending" and not pod["metadata"].get("deletionTimestamp"):
            self.pending[job] = (_pending_since(pod), pod["metadata"]["namespace"], describe_pending(pod))
        else:
            self.pending.pop(job, None)
        if phase == "Running" and job not in self.started and job not in self.ended:
            self.started.add(job)
            return [ExecutorEvent(job, STARTED, "", node=pod["spec"].get("nodeName", ""), extra=pod_ref(pod))]
        return []

    def on_job(self, what: str, job: dict) -> list[ExecutorEvent]:
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        outcome = job_outcome(job)
        if what == "DELETED":
            self.active.pop(name, None)
            self.pending.pop(name, None)
            events = []
            if not outcome and name not in self.ended:
                events = [ExecutorEvent(name, FAILED, "", reason="the job was deleted before it finished "
                                        "(cancelled, or deleted from outside Trellis)", node=self._node(name),
                                        extra=pod_ref(self.pods.get(name)))]
            self.ended.discard(name)  # nothing more will come for it
            self.held.pop(name, None)
            self.started.discard(name)
            self.pods.pop(name, None)
            return events
        if not outcome:
            if not job["metadata"].get("deletionTimestamp"):
                self.active[name] = namespace
            return []
        self.active.pop(name, None)
        self.pending.pop(name, None)
        if name in self.ended or name in self.held:
            return []
        pod = self.pods.get(name)
        if pod is None or not (pod.get("deleted") or _is_explained(pod)):
            # The pod stream lags behind the job stream (they are two connections). Its events
            # up to the pod's last change must come first, so that the start precedes the end.
            fetched = self.fetch_pods(namespace, name)
            if not fetched:
                pod = pod or {"deleted": True}
            elif _rv(self.pods_rv) >= _rv(fetched[0]["metadata"].get("resourceVersion")):
                pod = fetched[0]  # its changes came before this watch began
            else:
                self.held[name] = (_rv(fetched[0]["metadata"].get("resourceVersion")), time.monotonic() + HOLD_S,
                                   job, fetched[0], self.jobs_rv)
                return []
        return self._end(job, pod)

    def _end(self, job: dict, pod: dict) -> list[ExecutorEvent]:
        return [replace(e, extra={**e.extra, **pod_ref(pod)}) for e in self._explain_end(job, pod)]

    def _explain_end(self, job: dict, pod: dict) -> list[ExecutorEvent]:
        name = job["metadata"]["name"]
        self.ended.add(name)
        node = (pod.get("spec") or {}).get("nodeName", "")
        if job_outcome(job) == "Complete":
            return [ExecutorEvent(name, EXITED, "", exit_code=0, node=node)]
        condition = _condition(job, "Failed") or {}
        if condition.get("reason") == "DeadlineExceeded":
            limit = job["spec"].get("activeDeadlineSeconds")
            return [ExecutorEvent(name, FAILED, "", node=node,
                                  reason=f"DeadlineExceeded: the step ran longer than its timeout of {limit} s")]
        return [explain_pod_failure(name, pod, condition)]

    def resume_point(self, position: dict[str, str | None]) -> dict[str, str | None]:
        """``position``, but while a job's end is held, no further than just before it in the
        jobs stream: resuming there sees that end again rather than never."""
        if not self.held:
            return dict(position)
        befores = [h[4] for h in self.held.values()]
        floor = None if None in befores else min(befores, key=_rv)
        return {**position, "jobs": floor}

    def release_held(self, *, now: float | None = None) -> list[ExecutorEvent]:
        """Held job ends whose pod events have now been seen (or waited for long enough)."""
        events: list[ExecutorEvent] = []
        for name, (rv, until, job, fetched, _) in list(self.held.items()):
            if _rv(self.pods_rv) >= rv or (now is not None and now >= until):
                del self.held[name]
                events += self._end(job, self.pods.get(name) or fetched)
        return events

    def overdue(self, now: float) -> list[ExecutorEvent]:
        """Jobs whose pod has been pending longer than the pending timeout: fail and delete them."""
        events = self.release_held(now=time.monotonic())
        for job, (since, namespace, why) in list(self.pending.items()):
            if now - since < self.config.pending_timeout_s or job in self.ended:
                continue
            del self.pending[job]
            self.ended.add(job)
            events.append(ExecutorEvent(job, FAILED, "", reason=f"{why} (still pending after "
                                        f"{self.config.pending_timeout_s:g} s)"))
            self.release(namespace, job)
        return events

    def _node(self, job: str) -> str:
        return (self.pods.get(job) or {}).get("spec", {}).get("nodeName", "")

    def _relist_jobs(self, jobs: list[dict]) -> list[ExecutorEvent]:
        """A fresh start or a 410: bring every Job up to date, and report the unfinished jobs that
        vanished while nobody watched (their outcome is unknown)."""
        names = {j["metadata"]["name"] for j in jobs}
        events = [ExecutorEvent(name, FAILED, "", reason="the job vanished while the watch was disconnected; "
                                "its outcome is unknown")
                  for name in sorted(set(self.active) - names) if name not in self.ended]
        self.active = {}
        for job in jobs:
            events += self.on_job("ADDED", job)
        return events

    def _relist_pods(self, pods: list[dict]) -> list[ExecutorEvent]:
        self.pending.clear()
        events = []
        for pod in pods:
            events += self.on_pod("ADDED", pod)
        return events


def pod_ref(pod: dict | None) -> dict[str, str]:
    """What an event carries about its pod, for the log copier: name, namespace, and the run,
    step and attempt it belongs to (from the annotations, which keep the exact names)."""
    meta = (pod or {}).get("metadata") or {}
    if not meta.get("name"):
        return {}
    notes = meta.get("annotations") or {}
    return {"pod": meta["name"], "namespace": meta.get("namespace", ""), "run": notes.get(RUN, ""),
            "step": notes.get(STEP, ""), "attempt": notes.get(ATTEMPT, "")}


def job_outcome(job: dict) -> str:
    """"Complete", "Failed" or "" (not finished)."""
    for kind in ("Complete", "Failed"):
        if _condition(job, kind):
            return kind
    return ""


def _condition(job: dict, kind: str) -> dict | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def _step_status(pod: dict) -> dict:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == STEP_CONTAINER:
            return status
    return {}


def _is_explained(pod: dict) -> bool:
    return pod.get("status", {}).get("reason") == "Evicted" or "terminated" in (_step_status(pod).get("state") or {})


def explain_pod_failure(job: str, pod: dict, condition: dict) -> ExecutorEvent:
    """Why a Job with backoffLimit 0 failed, in its pod's terms."""
    node = (pod.get("spec") or {}).get("nodeName", "")
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return ExecutorEvent(job, FAILED, "", node=node, reason=f"Evicted: {status.get('message', '').strip()}")
    terminated = (_step_status(pod).get("state") or {}).get("terminated")
    if terminated and not pod.get("deleted") and not pod.get("metadata", {}).get("deletionTimestamp"):
        code = int(terminated.get("exitCode", 0))
        if terminated.get("reason") == "OOMKilled":
            limit = _memory_limit(pod)
            return ExecutorEvent(job, EXITED, "", exit_code=code, node=node,
                                 reason=f"OOMKilled: exit {code}, the step went over its memory limit of {limit}")
        message = (terminated.get("message") or "").strip()
        return ExecutorEvent(job, EXITED, "", exit_code=code, node=node,
                             reason=describe_exit(code) + (f": {message}" if message else ""))
    if pod.get("deleted") or pod.get("metadata", {}).get("deletionTimestamp"):
        return ExecutorEvent(job, FAILED, "", node=node, reason="the pod was deleted before it finished "
                             "(deleted from outside Trellis, or its node went away)")
    return ExecutorEvent(job, FAILED, "", node=node,
                         reason=f"{condition.get('reason') or 'Failed'}: {condition.get('message') or 'the job failed'}")


def describe_pending(pod: dict) -> str:
    """Why a pod is still Pending, in the scheduler's or kubelet's words."""
    status = pod.get("status") or {}
    for s in (*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())):
        waiting = (s.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in ("ContainerCreating", "PodInitializing"):
            return f"{waiting['reason']}: {waiting.get('message', '').strip()}".rstrip(": ")
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return f"{c.get('reason') or 'Unschedulable'}: {c.get('message', '').strip()}".rstrip(": ")
    return "Pending"


def _memory_limit(pod: dict) -> str:
    for c in (pod.get("spec") or {}).get("containers") or ():
        if c.get("name") == STEP_CONTAINER:
            return ((c.get("resources") or {}).get("limits") or {}).get("memory", "unknown")
    return "unknown"


def _rv(text: str | None) -> int:
    """resourceVersions are opaque strings; etcd's are increasing integers, which the hold in
    ``Tracker.on_job`` relies on. Anything else compares as "unknown" (-1: never waited for)."""
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1


def _pending_since(pod: dict) -> float:
    """When the pod was created, at the latest: timestamps have whole seconds, and counting from
    the start of that second could fail a pod before it waited its pending timeout (and before
    the kubelet had said why it waits)."""
    stamp = pod["metadata"].get("creationTimestamp")
    return _epoch(stamp) + 1.0 if stamp else time.time()


def _epoch(stamp: str | None) -> float:
    if not stamp:
        return time.time()
    return timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))


# ---------------------------------------------------------------------- capacity

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "Ki": 2**10, "Mi": 2**20,
           "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes quantity ("7500m", "32Gi", "4") as a number of base units."""
    m = _QUANTITY.match(str(text).strip())
    if not m or m[2] not in _SUFFIX:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return float(m[1]) * _SUFFIX[m[2]]


def schedulable_nodes(nodes: list[dict], gpu_class_label: str) -> list[Node]:
    """The ready, schedulable nodes with their allocatable cpu, memory, GPUs and GPU class."""
    found = []
    for n in nodes:
        if (n.get("spec") or {}).get("unschedulable"):
            continue
        conditions = (n.get("status") or {}).get("conditions") or ()
        if any(c.get("type") == "Ready" and c.get("status") != "True" for c in conditions):
            continue
        allocatable = (n.get("status") or {}).get("allocatable") or {}
        labels = (n.get("metadata") or {}).get("labels") or {}
        found.append(Node(
            n["metadata"]["name"], round(parse_quantity(allocatable.get("cpu", 0)), 3),
            math.floor(parse_quantity(allocatable.get("memory", 0)) / 2**20),
            int(parse_quantity(allocatable.get(GPU_RESOURCE, 0))), labels.get(gpu_class_label, ""), dict(labels)))
    return found


def capacity_by_class(nodes: list[Node]) -> dict[str, Capacity]:
    """Totals by GPU class ("" for nodes without one), each with its largest node and its nodes."""
    grouped: dict[str, list[Node]] = {}
    for n in nodes:
        grouped.setdefault(n.gpu_class, []).append(n)
    return {
        gpu_class: Capacity(sum(n.cpu for n in ns), sum(n.memory_mb for n in ns), sum(n.gpu for n in ns),
                            largest_node=_as_request(max(ns, key=lambda n: (n.gpu, n.cpu, n.memory_mb))),
                            nodes=tuple(ns))
        for gpu_class, ns in grouped.items()
    }


def _as_request(n: Node) -> Request:
    return Request(n.cpu, n.memory_mb, n.gpu, n.gpu_class)
