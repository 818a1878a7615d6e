"""A fake Kubernetes cluster for tests: the API over real HTTP (``kube_api.py``) plus a simulated
scheduler, job controller, kubelet, TTL controller and garbage collector.

    with FakeCluster(nodes=[node("gpu-1", gpu=8, gpu_class="a100")]) as cluster:
        cluster.on("trellis-1-train-1", Outcome.oom())      # what happens to that job's pod
        api_client = cluster.api_client()                   # the real kubernetes client

Each Job gets one pod (Trellis sets ``backoffLimit: 0``). What happens to the pod is the
Outcome chosen for the job's name (or by a rule), else ``default``: success, an exit code,
OOMKilled, ImagePullBackOff, Unschedulable, a hang until the Job's deadline, eviction, or the pod
deleted from outside. Pods also stay Pending when no node fits their selector, tolerations and
resource requests, with the scheduler's message.
"""
from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .kube_api import JOBS, NODES, PODS, PVCS, Api, Store, serve, timestamp

TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Outcome:
    """What the simulated kubelet does with a pod."""

    kind: str = "succeed"  # succeed | exit | oom | image_pull | unschedulable | hang | evict | delete
    exit_code: int = 0
    run_s: float = 0.0  # how long the container runs before its outcome
    log: str = ""
    term_s: float = 0.0  # how long it takes to exit after SIGTERM (inf: it ignores SIGTERM)

    @classmethod
    def succeed(cls, run_s: float = 0.0, log: str = "") -> "Outcome":
        return cls("succeed", 0, run_s, log)

    @classmethod
    def exit(cls, code: int = 1, run_s: float = 0.0, log: str = "") -> "Outcome":
        return cls("exit", code, run_s, log)

    @classmethod
    def oom(cls, run_s: float = 0.0) -> "Outcome":
        return cls("oom", 137, run_s)

    @classmethod
    def image_pull(cls, *, is_backing_off: bool = True) -> "Outcome":
        """ErrImagePull, then (backing off) ImagePullBackOff; or ErrImagePull for good."""
        return cls("image_pull" if is_backing_off else "err_image_pull")

    @classmethod
    def unschedulable(cls) -> "Outcome":
        return cls("unschedulable")

    @classmethod
    def hang(cls, term_s: float = 0.0) -> "Outcome":
        return cls("hang", run_s=float("inf"), term_s=term_s)

    @classmethod
    def evict(cls, run_s: float = 0.0) -> "Outcome":
        return cls("evict", run_s=run_s)

    @classmethod
    def delete(cls, run_s: float = 0.0) -> "Outcome":
        return cls("delete", run_s=run_s)


def node(name: str, *, cpu: str = "8", memory: str = "32Gi", gpu: int = 0, gpu_class: str = "",
         gpu_class_label: str = "trellis.dev/gpu-class", taints: list[dict] | None = None,
         is_ready: bool = True, is_unschedulable: bool = False) -> dict:
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpu:
        allocatable["nvidia.com/gpu"] = str(gpu)
    labels = {"kubernetes.io/hostname": name}
    if gpu_class:
        labels[gpu_class_label] = gpu_class
    if taints is None and gpu:
        taints = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints or [], "unschedulable": is_unschedulable},
        "status": {"allocatable": allocatable, "capacity": dict(allocatable),
                   "conditions": [{"type": "Ready", "status": "True" if is_ready else "False"}]},
    }


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
           "Ti": 2**40}


def quantity(text: str | int | float) -> float:
    m = _QUANTITY.match(str(text))
    if not m:
        raise ValueError(f"not a quantity: {text!r}")
    return float(m[1]) * _SUFFIX[m[2]]


@dataclass
class _PodPlan:
    outcome: Outcome
    running_at: float | None = None
    sigterm_at: float | None = None  # when its deletion with a grace period began


@dataclass
class FakeCluster:
    nodes: list[dict] = field(default_factory=lambda: [node("node-1")])
    default: Outcome = field(default_factory=Outcome.succeed)
    tick_s: float = 0.002
    bookmark_interval_s: float = 1.0

    def __post_init__(self) -> None:
        self.store = Store()
        self.api = Api(self.store, bookmark_interval_s=self.bookmark_interval_s, logs=self._log_of)
        self._outcomes: dict[str, list[Outcome]] = {}
        self._rules: list[Callable[[dict], Outcome | None]] = []
        self._plans: dict[str, _PodPlan] = {}  # pod uid -> what happens to it
        self._job_pods: dict[str, str] = {}  # job uid -> the name of the pod it made
        self._logs: dict[str, str] = {}
        self._started_at: dict[str, float] = {}  # job uid -> when its pod was made
        self._finished_at: dict[str, float] = {}  # job uid -> when it finished
        self.pods_created = 0
        self._closing: list[Callable[[], None]] = []
        for n in self.nodes:
            self.store.create(NODES, "", n)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.store.on_change.append(lambda change: self._wake.set())
        self.server, self._server_thread = serve(self.api)
        self._controller = threading.Thread(target=self._run_controllers, daemon=True, name="fake-kube-controllers")
        self._controller.start()

    # ------------------------------------------------------------------ test-facing

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def api_client(self):
        """A real ``kubernetes.client.ApiClient`` configured explicitly for this cluster."""
        from kubernetes import client

        configuration = client.Configuration(host=self.host)
        return client.ApiClient(configuration)

    def on(self, job_name: str, *outcomes: Outcome) -> None:
        """The outcomes of the next pods of that job (the last one repeats)."""
        self._outcomes[job_name] = list(outcomes)

    def rule(self, choose: Callable[[dict], Outcome | None]) -> None:
        """``choose(job) -> Outcome | None``, asked for jobs with no outcome of their own."""
        self._rules.append(choose)

    def change_outcome(self, job_name: str, outcome: Outcome) -> None:
        """The job's pods made already (a hanging one, say) end as ``outcome`` instead."""
        with self.store.cond:
            for pod in self._pods_of(job_name):
                self._plans[pod["metadata"]["uid"]].outcome = outcome
        self._wake.set()

    def append_log(self, job_name: str, text: str) -> None:
        """The job's running pod writes ``text`` to its log (a follower sees it at once)."""
        with self.store.cond:
            for pod in self._pods_of(job_name):
                uid = pod["metadata"]["uid"]
                self._logs[uid] = self._logs.get(uid, "") + text
            self.store.cond.notify_all()

    def _pods_of(self, job_name: str) -> list[dict]:
        return [p for p in self.pods() if p["metadata"]["labels"].get("job-name") == job_name]

    def jobs(self) -> list[dict]:
        return self._all(JOBS)

    def pods(self) -> list[dict]:
        return self._all(PODS)

    def pvcs(self) -> list[dict]:
        return self._all(PVCS)

    def job(self, name: str) -> dict | None:
        return next((j for j in self.jobs() if j["metadata"]["name"] == name), None)

    def delete_pod_of(self, job_name: str) -> None:
        """Someone deletes the job's pod from outside (kubectl delete pod)."""
        with self.store.cond:
            for pod in self.pods():
                if pod["metadata"]["labels"].get("job-name") == job_name:
                    self.store.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], None)

    def delete_job(self, job_name: str, propagation: str | None = "Background") -> None:
        with self.store.cond:
            job = self.job(job_name)
            if job is not None:
                self.store.delete(JOBS, job["metadata"]["namespace"], job_name, propagation)

    def add_node(self, node_: dict) -> None:
        self.store.create(NODES, "", node_)

    def remove_node(self, name: str) -> None:
        self.store.delete(NODES, "", name, None)

    def cordon(self, name: str, *, is_cordoned: bool = True) -> None:
        """kubectl cordon (or uncordon)."""
        with self.store.cond:
            n = self.store.get(NODES, "", name)
            n["spec"]["unschedulable"] = is_cordoned
            self.store.update(NODES, n)

    def set_ready(self, name: str, is_ready: bool) -> None:
        with self.store.cond:
            n = self.store.get(NODES, "", name)
            n["status"]["conditions"] = [{"type": "Ready", "status": "True" if is_ready else "False"}]
            self.store.update(NODES, n)

    def compact(self) -> None:
        """Forget the history and cut off every watch: resuming from an old resourceVersion is 410."""
        self.store.compact()
        self.api.drop_watches()

    def stall_watches(self) -> None:
        self.api.stall_watches()

    def drop_watches(self) -> None:
        self.api.drop_watches()

    @property
    def requests(self) -> int:
        return self.api.requests

    def when_closing(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` first when the cluster closes (an executor's node watch, say)."""
        self._closing.append(stop)

    def close(self) -> None:
        for stop in self._closing:
            stop()
        self._stop.set()
        self._wake.set()
        with self.store.cond:
            self.api.is_closing = True
            self.store.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()
        self._controller.join(timeout=5)

    def __enter__(self) -> "FakeCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ controllers

    def _all(self, res) -> list[dict]:
        with self.store.cond:
            return [o for (r, _, _), o in self.store.objects.items() if r is res]

    def _run_controllers(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick_s * 10)
            self._wake.clear()
            with self.store.cond:
                now = time.time()
                self._bind_claims()
                self._run_jobs(now)
                self._run_kubelet(now)
            time.sleep(self.tick_s)  # let a burst of requests land before the next pass

    def _bind_claims(self) -> None:
        for pvc in self._all(PVCS):
            if pvc["status"].get("phase") != "Bound" and not pvc["metadata"].get("deletionTimestamp"):
                size = pvc["spec"].get("resources", {}).get("requests", {}).get("storage", "1Gi")
                pvc["status"] = {"phase": "Bound", "accessModes": pvc["spec"].get("accessModes", []),
                                 "capacity": {"storage": size}}
                self.store.update(PVCS, pvc)

    def _outcome_for(self, job: dict) -> Outcome:
        planned = self._outcomes.get(job["metadata"]["name"])
        if planned:
            return planned.pop(0) if len(planned) > 1 else planned[0]
        for choose in self._rules:
            if (outcome := choose(job)) is not None:
                return outcome
        return self.default

    # ---- the job controller

    def _run_jobs(self, now: float) -> None:
        for job in self._all(JOBS):
            meta, spec, status = job["metadata"], job["spec"], job["status"]
            if _finished(job):
                ttl = spec.get("ttlSecondsAfterFinished")
                if ttl is not None and now >= self._finished_at.get(meta["uid"], now) + ttl:
                    self.store.delete(JOBS, meta["namespace"], meta["name"], "Background")
                continue
            if meta.get("deletionTimestamp"):
                continue
            uid = meta["uid"]
            if uid not in self._job_pods:
                self._make_pod(job, now)
                continue
            pod = self._pod(meta["namespace"], self._job_pods[uid])
            deadline = spec.get("activeDeadlineSeconds")
            if pod is not None and pod["status"].get("phase") == "Succeeded":
                self._finish(job, now, "Complete", "", "", succeeded=1)
            elif pod is not None and pod["status"].get("phase") == "Failed":
                self._finish(job, now, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                             failed=1)
            elif deadline is not None and now >= self._started_at[uid] + deadline:
                if pod is not None:
                    self.store.delete(PODS, meta["namespace"], pod["metadata"]["name"], "Background")
                self._finish(job, now, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline",
                             failed=1)
            elif pod is None:  # deleted from outside before it finished: with backoffLimit 0, the job fails
                self._finish(job, now, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                             failed=1)

    def _make_pod(self, job: dict, now: float) -> None:
        meta, template = job["metadata"], job["spec"]["template"]
        name = f"{meta['name'][:57]}-{uuid.uuid4().hex[:5]}"
        labels = {**template.get("metadata", {}).get("labels", {}), "job-name": meta["name"],
                  "batch.kubernetes.io/job-name": meta["name"], "controller-uid": meta["uid"],
                  "batch.kubernetes.io/controller-uid": meta["uid"]}
        pod = {
            "metadata": {"name": name, "labels": labels,
                         "annotations": dict(template.get("metadata", {}).get("annotations", {})),
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                              "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": dict(template["spec"]),
            "status": {"phase": "Pending", "conditions": [], "qosClass": "Guaranteed"},
        }
        pod = self.store.create(PODS, meta["namespace"], pod)
        self.pods_created += 1
        self._plans[pod["metadata"]["uid"]] = _PodPlan(self._outcome_for(job))
        self._job_pods[meta["uid"]] = name
        self._started_at[meta["uid"]] = now
        job["status"] = {**job["status"], "active": 1, "startTime": timestamp(now)}
        self.store.update(JOBS, job)

    def _finish(self, job: dict, now: float, condition: str, reason: str, message: str, **counts: int) -> None:
        status = job["status"]
        status.pop("active", None)
        status.update(counts)
        status["conditions"] = [*status.get("conditions", []), {
            "type": condition, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": timestamp(now), "lastTransitionTime": timestamp(now)}]
        if condition == "Complete":
            status["completionTime"] = timestamp(now)
        self._finished_at[job["metadata"]["uid"]] = now
        self.store.update(JOBS, job)

    def _pod(self, namespace: str, name: str) -> dict | None:
        return self.store.objects.get((PODS, namespace, name))

    # ---- the scheduler and the kubelet

    def _run_kubelet(self, now: float) -> None:
        for pod in self._all(PODS):
            status, spec = pod["status"], pod["spec"]
            plan = self._plans.get(pod["metadata"]["uid"])
            if pod["metadata"].get("deletionTimestamp") and plan is not None:
                self._terminate(pod, plan, now)
                continue
            if plan is None or status.get("phase") in TERMINAL:
                continue
            if not spec.get("nodeName"):
                self._schedule(pod, plan)
            elif status.get("phase") == "Pending":
                self._start(pod, plan, now)
            elif now >= plan.running_at + plan.outcome.run_s:
                self._end(pod, plan, now)

    def _schedule(self, pod: dict, plan: _PodPlan) -> None:
        why = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." if plan.outcome.kind == "unschedulable" \
            else self._why_unschedulable(pod)
        if why:
            condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": f"{why} preemption: 0/{len(self.nodes)} nodes are available.",
                         "lastTransitionTime": timestamp()}
            if pod["status"].get("conditions") != [condition]:
                pod["status"]["conditions"] = [condition]
                self.store.update(PODS, pod)
            return
        pod["spec"]["nodeName"] = self._fitting_nodes(pod)[0]["metadata"]["name"]
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": timestamp()}]
        pod["status"]["containerStatuses"] = [
            _container_status(c, {"waiting": {"reason": "ContainerCreating"}}) for c in pod["spec"]["containers"]]
        self.store.update(PODS, pod)

    def _start(self, pod: dict, plan: _PodPlan, now: float) -> None:
        if plan.outcome.kind in ("image_pull", "err_image_pull"):
            image = pod["spec"]["containers"][0]["image"]
            was = pod["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason")
            is_first = was == "ContainerCreating" or plan.outcome.kind == "err_image_pull"
            reason = "ErrImagePull" if is_first else "ImagePullBackOff"
            message = (f'Back-off pulling image "{image}"' if reason == "ImagePullBackOff" else
                       f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found')
            waiting = {"waiting": {"reason": reason, "message": message}}
            if pod["status"]["containerStatuses"][0]["state"] != waiting:
                pod["status"]["containerStatuses"] = [_container_status(c, waiting) for c in pod["spec"]["containers"]]
                self.store.update(PODS, pod)
            return
        plan.running_at = now
        pod["status"].update(phase="Running", startTime=timestamp(now), podIP="10.0.0.1", hostIP="192.168.0.1")
        pod["status"]["containerStatuses"] = [
            _container_status(c, {"running": {"startedAt": timestamp(now)}}, is_ready=True)
            for c in pod["spec"]["containers"]]
        self._logs[pod["metadata"]["uid"]] = plan.outcome.log
        self.store.update(PODS, pod)

    def _end(self, pod: dict, plan: _PodPlan, now: float) -> None:
        kind, meta = plan.outcome.kind, pod["metadata"]
        if kind == "delete":
            self.store.delete(PODS, meta["namespace"], meta["name"], None)
            return
        if kind == "evict":
            pod["status"].update(phase="Failed", reason="Evicted",
                                 message="The node was low on resource: memory. Threshold quantity: 100Mi, "
                                         "available: 52Mi. Container step was using 3Gi, request is 1Gi.")
            terminated = {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                         "message": "The container could not be located when the pod was terminated",
                                         "startedAt": timestamp(plan.running_at), "finishedAt": timestamp(now)}}
        else:
            code = {"succeed": 0, "oom": 137}.get(kind, plan.outcome.exit_code)
            reason = {"succeed": "Completed", "oom": "OOMKilled"}.get(kind, "Error")
            pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
            terminated = {"terminated": {"exitCode": code, "reason": reason, "startedAt": timestamp(plan.running_at),
                                         "finishedAt": timestamp(now)}}
        pod["status"]["containerStatuses"] = [_container_status(c, terminated) for c in pod["spec"]["containers"]]
        self.store.update(PODS, pod)

    def _terminate(self, pod: dict, plan: _PodPlan, now: float) -> None:
        """A pod deleted with a grace period: SIGTERM to its container, which exits after the
        outcome's ``term_s`` (143), or is killed when the grace period is over (137); the pod
        goes once its container has stopped."""
        meta, status = pod["metadata"], pod["status"]
        if plan.sigterm_at is None:
            plan.sigterm_at = now
        is_running = status.get("phase") == "Running"
        grace_over = now >= plan.sigterm_at + meta.get("deletionGracePeriodSeconds", 0)
        if is_running and (now >= plan.sigterm_at + plan.outcome.term_s or grace_over):
            code, reason = (137, "Error") if now < plan.sigterm_at + plan.outcome.term_s else (143, "Error")
            status["phase"] = "Failed"
            status["containerStatuses"] = [_container_status(c, {"terminated": {
                "exitCode": code, "reason": reason, "startedAt": timestamp(plan.running_at),
                "finishedAt": timestamp(now)}}) for c in pod["spec"]["containers"]]
            self.store.update(PODS, pod)
            is_running = False
        if not is_running or grace_over:
            self.store.remove(PODS, pod)

    def _why_unschedulable(self, pod: dict) -> str:
        for claim in pod["spec"].get("volumes", []):
            name = claim.get("persistentVolumeClaim", {}).get("claimName")
            if name and (PVCS, pod["metadata"]["namespace"], name) not in self.store.objects:
                return f'persistentvolumeclaim "{name}" not found.'
        if self._fitting_nodes(pod):
            return ""
        return f"0/{len(self.nodes)} nodes are available: {len(self.nodes)} node(s) didn't match Pod's node " \
               "affinity/selector, had untolerated taints or had insufficient resources."

    def _fitting_nodes(self, pod: dict) -> list[dict]:
        wants = pod["spec"].get("nodeSelector") or {}
        tolerations = pod["spec"].get("tolerations") or []
        requests = _requests(pod)
        fitting = []
        for n in self._all(NODES):
            if n["spec"].get("unschedulable") or any(
                    c["type"] == "Ready" and c["status"] != "True" for c in n["status"].get("conditions", [])):
                continue
            if any(n["metadata"]["labels"].get(k) != v for k, v in wants.items()):
                continue
            if any(t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, t)
                   for t in n["spec"].get("taints") or []):
                continue
            used: dict[str, float] = {}
            for other in self._all(PODS):
                if other["spec"].get("nodeName") == n["metadata"]["name"] and other["status"].get("phase") not in TERMINAL:
                    for k, v in _requests(other).items():
                        used[k] = used.get(k, 0) + v
            allocatable = {k: quantity(v) for k, v in n["status"]["allocatable"].items()}
            if all(used.get(k, 0) + v <= allocatable.get(k, 0) + 1e-9 for k, v in requests.items()):
                fitting.append(n)
        return fitting

    def _log_of(self, pod: dict) -> str:
        return self._logs.get(pod["metadata"]["uid"], "")


def _finished(job: dict) -> bool:
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
               for c in job["status"].get("conditions", []))


def _requests(pod: dict) -> dict[str, float]:
    total: dict[str, float] = {}
    for c in pod["spec"]["containers"]:
        resources = c.get("resources") or {}
        for k, v in {**resources.get("limits", {}), **resources.get("requests", {})}.items():
            total[k] = total.get(k, 0) + quantity(v)
    return total


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _container_status(container: dict, state: dict, *, is_ready: bool = False) -> dict:
    return {"name": container["name"], "image": container["image"], "imageID": "", "ready": is_ready,
            "restartCount": 0, "started": "running" in state, "state": state}
