"""What a finished Job or a waiting Pod means, in words a person understands (pure functions over
the API's JSON)."""
from __future__ import annotations

from ..base import EXITED, FAILED, ExecutorEvent
from ..local import describe_exit
from .manifests import STEP_CONTAINER


def job_outcome(job: dict) -> str:
    """"Complete", "Failed" or "" (not finished)."""
    for kind in ("Complete", "Failed"):
        if job_condition(job, kind):
            return kind
    return ""


def job_condition(job: dict, kind: str) -> dict | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def _step_status(pod: dict) -> dict:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == STEP_CONTAINER:
            return status
    return {}


def is_explained(pod: dict) -> bool:
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

