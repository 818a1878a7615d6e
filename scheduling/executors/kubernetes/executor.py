"""The Kubernetes executor: each step attempt is a batch/v1 Job; its pod's fate becomes events.

Handles are job names. ``watch`` follows two streams, Jobs and Pods (by Trellis's label
selector, see streams.py), and a Tracker (tracker.py) turns what they report into events. The
position is both streams' resourceVersions (``jobs=<rv>,pods=<rv>``). Capacity comes from a
watch on the nodes (nodes.py); the runs' volumes are volumes.py's.
"""
from __future__ import annotations

import math
import os
import queue
import time
from datetime import datetime
from typing import Iterator, Mapping

from kubernetes import client

from ...core.types import Capacity
from ..base import ExecutorEvent, JobSpec
from . import client as api
from .logs import LogCopier, log_file
from .manifests import STEP_CONTAINER, KubernetesConfig, job_manifest
from .nodes import NodeWatch, total_capacity
from .outcomes import job_outcome
from .positions import at_position, parse_position
from .streams import Stream
from .tracker import JOB_NAME_LABEL, Tracker
from .volumes import RunVolumes

LOG_READ_TIMEOUT_S = 600  # a followed log quiet this long is followed again (the copy skips what it has)


class KubernetesExecutor:
    is_submit_concurrent = True  # dispatch may create several Jobs at once: the API answers in parallel

    def __init__(self, *, api_client: client.ApiClient, config: KubernetesConfig, watch_timeout_s: int = 300,
                 backoff_max_s: float = 10.0, log_dir: str | os.PathLike | None = None):
        """``log_dir``: where the watcher keeps each step's pod log as a file (see logs.py); None
        keeps none (the step log endpoint then has nothing to show)."""
        self.api_client = api_client
        self.log_dir = log_dir
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.config = config
        self.watch_timeout_s = watch_timeout_s
        self.backoff_max_s = backoff_max_s
        self.volumes = RunVolumes(self.core, config)
        self.nodes = NodeWatch(list_=self._list_nodes, watch_=self._watch_nodes, gpu_class_label=config.gpu_class_label,
                               watch_timeout_s=watch_timeout_s, backoff_max_s=backoff_max_s)

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
        """Make sure the run's volume exists, then create the Job; "already exists" counts as done."""
        manifest = job_manifest(spec, self.config)  # first: a bad spec must not leave a volume behind
        self.volumes.ensure(run_id=spec.run_id, team=spec.team)
        namespace = self.config.namespace(spec.team)
        api.create(lambda: self.batch.create_namespaced_job(namespace, manifest, _preload_content=False))
        return spec.name

    def cancel(self, handle: str) -> None:
        """Delete the Job in the foreground: its pods (running, pending or being created) go first."""
        namespace = self._namespace_of(handle)
        if namespace is not None:
            self._delete_job(namespace, handle)

    def preempt(self, handle: str, grace_s: float) -> None:
        """Stop the job, its pod getting SIGTERM and ``grace_s`` seconds before SIGKILL.

        The Job goes in the foreground (no pod is left behind, nor a new one made); its pods are
        deleted with the grace period too, because the garbage collector would otherwise give
        them their own (``terminationGracePeriodSeconds``, 30 s by default).
        """
        namespace = self._namespace_of(handle)
        if namespace is None:
            return
        grace = max(0, math.ceil(grace_s))
        self._delete_job(namespace, handle, grace_s=grace)
        for pod in self._pods_of(namespace, handle):
            api.delete(lambda: self.core.delete_namespaced_pod(
                pod["metadata"]["name"], namespace, grace_period_seconds=grace, _preload_content=False))

    def list_active(self) -> list[str]:
        """Trellis's Jobs that have not finished and are not being deleted."""
        return sorted(j["metadata"]["name"] for j in self._list("jobs")[0]
                      if not job_outcome(j) and not j["metadata"].get("deletionTimestamp"))

    def list_jobs(self) -> list[str]:
        """Every Job of Trellis's the cluster holds, finished or not (reconciliation tells a Job
        that vanished from one that finished unseen)."""
        return sorted(j["metadata"]["name"] for j in self._list("jobs")[0])

    def capacity(self) -> Capacity:
        return total_capacity(self.capacity_by_class())

    def capacity_by_class(self) -> dict[str, Capacity]:
        """Allocatable cpu, memory and GPUs of the schedulable, ready nodes, by GPU class ("" for
        nodes without the class label), as the node watch last saw them."""
        return self.nodes.capacity_by_class()

    def volume_runs(self) -> list[int]:
        """The runs whose artifact volume exists."""
        return sorted(self.volumes.held())

    def release_volumes(self, finished_at: Mapping[int, datetime | None], *, now: datetime) -> list[int]:
        """Remove the volumes of the final runs in ``finished_at`` older than the retention period."""
        return self.volumes.release(finished_at, now=now)

    def watch(self, since: str | None) -> Iterator[ExecutorEvent | None]:
        """Events after position ``since`` (None: everything that exists now), forever; None
        whenever it has caught up, and at least every 0.25 s when idle."""
        position = parse_position(since)
        tracker = Tracker(self.config, fetch_pods=self._pods_of, release=self._delete_job)
        tracker.pods_rv = position["pods"]
        inbox: queue.Queue = queue.Queue()
        copier = LogCopier(self._read_log, self.log_dir) if self.log_dir is not None else None
        streams = [Stream(kind, list_=lambda kind=kind: self._list(kind),
                          watch_=lambda rv, timeout, kind=kind: self._watch_call(kind, rv, timeout),
                          rv=position[kind], inbox=inbox, watch_timeout_s=self.watch_timeout_s,
                          backoff_max_s=self.backoff_max_s) for kind in ("jobs", "pods")]
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
                    early += [at_position(e, tracker.resume_point(position))
                              for e in tracker.take(kind, what, payload, rv)]
                    try:
                        item = inbox.get_nowait()
                    except queue.Empty:
                        item = None
                if None in position.values():
                    continue
                early += [at_position(e, tracker.resume_point(position)) for e in tracker.overdue(time.time())]
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

    def close(self) -> None:
        """Stop the node watch (the executor lives as long as its process otherwise)."""
        self.nodes.stop()

    # ------------------------------------------------------------------ API calls

    def _list(self, kind: str) -> tuple[list[dict], str]:
        """Every Trellis Job or Pod, and the resourceVersion to watch from."""
        api_ = self.batch if kind == "jobs" else self.core
        selector = self.config.selector
        if self.config.is_namespace_per_team:
            call = api_.list_job_for_all_namespaces if kind == "jobs" else api_.list_pod_for_all_namespaces
            data = api.body_of(call(label_selector=selector, _preload_content=False))
        else:
            call = api_.list_namespaced_job if kind == "jobs" else api_.list_namespaced_pod
            data = api.body_of(call(self.config.namespace_pattern, label_selector=selector, _preload_content=False))
        return data["items"], data["metadata"]["resourceVersion"]

    def _watch_call(self, kind: str, rv: str, read_timeout_s: float):
        api_ = self.batch if kind == "jobs" else self.core
        options = dict(label_selector=self.config.selector, resource_version=rv, watch=True,
                       allow_watch_bookmarks=True, timeout_seconds=self.watch_timeout_s, _preload_content=False,
                       _request_timeout=(10, read_timeout_s))
        if self.config.is_namespace_per_team:
            call = api_.list_job_for_all_namespaces if kind == "jobs" else api_.list_pod_for_all_namespaces
            return call(**options)
        call = api_.list_namespaced_job if kind == "jobs" else api_.list_namespaced_pod
        return call(self.config.namespace_pattern, **options)

    def _list_nodes(self) -> tuple[list[dict], str]:
        data = api.body_of(self.core.list_node(_preload_content=False))
        return data["items"], data["metadata"]["resourceVersion"]

    def _watch_nodes(self, rv: str, read_timeout_s: float):
        return self.core.list_node(resource_version=rv, watch=True, allow_watch_bookmarks=True,
                                   timeout_seconds=self.watch_timeout_s, _preload_content=False,
                                   _request_timeout=(10, read_timeout_s))

    def _namespace_of(self, handle: str) -> str | None:
        if not self.config.is_namespace_per_team:
            return self.config.namespace_pattern
        data = api.body_of(self.batch.list_job_for_all_namespaces(
            label_selector=self.config.selector, field_selector=f"metadata.name={handle}", _preload_content=False))
        return data["items"][0]["metadata"]["namespace"] if data["items"] else None

    def _pods_of(self, namespace: str, job: str) -> list[dict]:
        data = api.body_of(self.core.list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={job}",
                                                           _preload_content=False))
        return data["items"]

    def _read_log(self, namespace: str, pod: str, follow: bool):
        """The step container's log, raw: a stream that ends with the container when following."""
        return self.core.read_namespaced_pod_log(pod, namespace, container=STEP_CONTAINER, follow=follow,
                                                 _preload_content=False,
                                                 _request_timeout=(10, LOG_READ_TIMEOUT_S if follow else 60))

    def _delete_job(self, namespace: str, job: str, *, grace_s: int | None = None) -> None:
        """Delete in the foreground: the Job stays (being deleted) until its pods are gone, so none
        is left behind, including one still pending or being created."""
        options = {} if grace_s is None else {"grace_period_seconds": grace_s}
        api.delete(lambda: self.batch.delete_namespaced_job(job, namespace, propagation_policy="Foreground",
                                                            _preload_content=False, **options))
