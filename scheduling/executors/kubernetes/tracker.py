"""The Tracker: turns what the Job and Pod streams report into executor events, each at most once
per watch.

- STARTED when the pod runs (with its node), once per job;
- EXITED / FAILED when the *Job* finishes: Complete is exit 0; Failed is explained from its pod
  (the exit code, OOMKilled with the memory limit, Evicted with the kubelet's message, deleted)
  or its condition (DeadlineExceeded); a Job deleted before it finished is FAILED too;
- FAILED for a pod Pending (Unschedulable, ImagePullBackOff, ...) longer than the pending
  timeout, with the scheduler's or kubelet's message; its Job is then deleted so that its quota
  is released;
- FAILED, on a relist, for an unfinished Job that vanished while nobody watched.
"""
from __future__ import annotations

import time
from calendar import timegm
from dataclasses import replace
from typing import Any, Callable

from ..base import EXITED, FAILED, STARTED, ExecutorEvent
from .manifests import ATTEMPT, RUN, STEP, KubernetesConfig
from .outcomes import describe_pending, explain_pod_failure, is_explained, job_condition, job_outcome
from .positions import rv_number as _rv

HOLD_S = 2.0  # the longest a Job's end waits for its pod's events from the other stream
JOB_NAME_LABEL = "job-name"  # set on a Job's pods by the job controller (with batch.kubernetes.io/job-name)


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
        if pod is None or not (pod.get("deleted") or is_explained(pod)):
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
        condition = job_condition(job, "Failed") or {}
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

