"""The Kubernetes executor against the fake cluster (tests/fakes/kube.py), through the real
client over HTTP: each pod outcome becomes the right event and reason; watches survive 410 Gone,
cut connections and silent ones; capacity comes from the nodes."""
from __future__ import annotations

import time

import pytest

from scheduling.executors.base import EXITED, FAILED, STARTED, JobSpec
from scheduling.jobspec import job_name
from tests.conftest import wait_until
from tests.fakes.kube import FakeCluster, Outcome, node
from tests.fakes.kube_executor import executor_for

FINAL = {EXITED, FAILED}


@pytest.fixture
def cluster():
    with FakeCluster(nodes=[node("cpu-1"), node("gpu-1", gpu=4, gpu_class="a100", cpu="32", memory="256Gi")]) as c:
        yield c


@pytest.fixture
def executor(cluster):
    return executor_for(cluster, pending_timeout_s=1)


def job(executor, step: str = "train", *, run_id: int = 1, attempt: int = 1, team: str = "vision", gpu: int = 0,
        gpu_class: str = "", memory_mb: int = 512, timeout_s: int = 60) -> JobSpec:
    workdir = executor.workdir(run_id)
    return JobSpec(name=job_name(run_id, step, attempt), run_id=run_id, step=step, attempt=attempt, team=team,
                   image="registry.example/train:1", command=("python", "train.py"), env={"TRELLIS_RUN_ID": str(run_id)},
                   cpu=1, memory_mb=memory_mb, gpu=gpu, gpu_class=gpu_class, timeout_s=timeout_s, workdir=workdir,
                   log_path=f"{workdir}/logs/{step}.{attempt}.log")


def events_of(executor, handle: str, *, since=None, until=FINAL, timeout_s: float = 15, after=None):
    """Watch until ``handle`` has an event of a kind in ``until``; ``after()`` runs once the watch
    has caught up for the first time."""
    seen, deadline = [], time.monotonic() + timeout_s
    for event in executor.watch(since):
        if event is None and after is not None:
            after, act = None, after
            act()
        if event is not None and event.handle == handle:
            seen.append(event)
            if event.kind in until:
                return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"no {until} for {handle}; saw {seen}")


def run(executor, cluster, outcome: Outcome, **fields) -> list:
    spec = job(executor, **fields)
    cluster.on(spec.name, outcome)
    executor.submit(spec)
    return events_of(executor, spec.name)


# ---------------------------------------------------------------------- outcomes


def test_a_successful_pod_is_exit_code_zero_on_its_node(executor, cluster):
    seen = run(executor, cluster, Outcome.succeed(run_s=0.05))
    assert [(e.kind, e.exit_code, e.node) for e in seen] == [(STARTED, None, "cpu-1"), (EXITED, 0, "cpu-1")]


def test_a_failing_command_reports_its_exit_code(executor, cluster):
    end = run(executor, cluster, Outcome.exit(1, run_s=0.05))[-1]
    assert (end.kind, end.exit_code, end.reason) == (EXITED, 1, "exited with code 1")


def test_an_oom_killed_step_shows_exit_137_and_its_memory_limit(executor, cluster):
    end = run(executor, cluster, Outcome.oom(run_s=0.05), memory_mb=512)[-1]
    assert (end.kind, end.exit_code) == (EXITED, 137)
    assert end.reason == "OOMKilled: exit 137, the step went over its memory limit of 512Mi"


def test_an_image_that_cannot_be_pulled_fails_after_the_pending_timeout_with_the_kubelets_message(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.image_pull())
    executor.submit(spec)
    end = events_of(executor, spec.name)[-1]
    assert end.kind == FAILED
    assert end.reason == ('ImagePullBackOff: Back-off pulling image "registry.example/train:1" '
                          "(still pending after 1 s)")
    wait_until(lambda: not cluster.job(spec.name) and not cluster.pods(), what="the job to be deleted")


def test_an_image_that_is_not_found_fails_as_err_image_pull_with_the_runtimes_message(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.image_pull(is_backing_off=False))
    executor.submit(spec)
    end = events_of(executor, spec.name)[-1]
    assert (end.kind, end.reason) == (FAILED, 'ErrImagePull: rpc error: code = NotFound desc = failed to pull and '
                                              'unpack image "registry.example/train:1": not found (still pending '
                                              'after 1 s)')


def test_an_unschedulable_step_fails_after_the_pending_timeout_with_the_schedulers_message(executor, cluster):
    end = run(executor, cluster, Outcome.unschedulable())[-1]
    assert end.kind == FAILED
    assert end.reason.startswith("Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")
    assert end.reason.endswith("(still pending after 1 s)")


def test_a_gpu_class_no_node_has_leaves_the_pod_unschedulable(executor, cluster):
    end = run(executor, cluster, Outcome.succeed(), gpu=1, gpu_class="h100")[-1]
    assert end.kind == FAILED and "didn't match Pod's node affinity/selector" in end.reason


def test_a_gpu_step_runs_on_a_node_of_its_class(executor, cluster):
    seen = run(executor, cluster, Outcome.succeed(run_s=0.05), gpu=2, gpu_class="a100")
    assert [(e.kind, e.node) for e in seen] == [(STARTED, "gpu-1"), (EXITED, "gpu-1")]


def test_a_step_past_its_timeout_fails_as_deadline_exceeded(executor, cluster):
    end = run(executor, cluster, Outcome.hang(), timeout_s=1)[-1]
    assert (end.kind, end.reason) == (FAILED, "DeadlineExceeded: the step ran longer than its timeout of 1 s")
    assert not cluster.pods()


def test_an_evicted_pod_fails_with_the_kubelets_message(executor, cluster):
    end = run(executor, cluster, Outcome.evict(run_s=0.05))[-1]
    assert end.kind == FAILED
    assert end.reason.startswith("Evicted: The node was low on resource: memory.")


def test_a_pod_deleted_from_outside_fails_its_step(executor, cluster):
    end = run(executor, cluster, Outcome.delete(run_s=0.05))[-1]
    assert end.kind == FAILED and end.reason.startswith("the pod was deleted before it finished")


def test_a_job_deleted_from_outside_fails_its_step_and_leaves_no_pod(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.hang())
    executor.submit(spec)
    seen = events_of(executor, spec.name, until={STARTED})
    later = events_of(executor, spec.name, since=seen[-1].position, after=lambda: cluster.delete_job(spec.name))
    assert (later[-1].kind, later[-1].reason) == (
        FAILED, "the job was deleted before it finished (cancelled, or deleted from outside Trellis)")
    wait_until(lambda: not cluster.pods(), what="the garbage collector to take the pod")


# ---------------------------------------------------------------------- submit and cancel


def test_submit_makes_the_runs_volume_once_and_the_job_in_the_teams_namespace(executor, cluster):
    executor.submit(job(executor, "prepare"))
    executor.submit(job(executor, "train"))
    executor.submit(job(executor, "train"))  # already exists: fine
    assert [(p["metadata"]["namespace"], p["metadata"]["name"], p["spec"]["accessModes"]) for p in cluster.pvcs()] == [
        ("trellis-vision", "trellis-run-1", ["ReadWriteMany"])]
    assert sorted(j["metadata"]["name"] for j in cluster.jobs()) == ["trellis-1-prepare-1", "trellis-1-train-1"]


def test_a_volume_made_by_another_worker_is_fine(cluster):
    first, second = executor_for(cluster), executor_for(cluster)
    first.submit(job(first, "prepare"))
    second.submit(job(second, "train"))
    assert len(cluster.pvcs()) == 1 and len(cluster.jobs()) == 2


def test_cancelling_a_pending_job_leaves_no_pod(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.unschedulable())
    executor.submit(spec)
    wait_until(lambda: cluster.pods(), what="the pod")
    executor.cancel(spec.name)
    wait_until(lambda: not cluster.pods() and not cluster.jobs(), what="the job and its pod to go")
    executor.cancel(spec.name)  # again: nothing left to cancel is fine


def test_list_active_leaves_out_finished_and_other_installations_jobs(cluster):
    ours, theirs = executor_for(cluster), executor_for(cluster, instance="staging")
    cluster.on(job_name(1, "train", 1), Outcome.hang())
    ours.submit(job(ours, "train"))
    ours.submit(job(ours, "prepare"))
    theirs.submit(job(theirs, "train", run_id=2))
    events_of(ours, job_name(1, "prepare", 1))
    assert ours.list_active() == ["trellis-1-train-1"]


# ---------------------------------------------------------------------- watching


def test_a_compacted_history_is_relisted_and_the_finished_job_reported_once(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.succeed(run_s=0.3))
    executor.submit(spec)
    started = events_of(executor, spec.name, until={STARTED})
    wait_until(lambda: cluster.job(spec.name)["status"].get("succeeded"), what="the job to complete")
    cluster.compact()  # a watch from the saved position is now 410 Gone
    seen, until = [], time.monotonic() + 1.5
    for event in executor.watch(started[-1].position):
        if time.monotonic() > until:
            break
        if event is not None:
            seen.append((event.handle, event.kind, event.exit_code))
    assert seen == [(spec.name, EXITED, 0)]


def test_an_unfinished_job_that_vanished_while_disconnected_is_failed_on_relist(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.hang())
    executor.submit(spec)
    events = executor.watch(None)
    while (e := next(events)) is None or e.kind != STARTED:
        pass
    cluster.delete_job(spec.name)
    cluster.compact()  # cut off, and the deletion fell out of the history
    while (e := next(events)) is None:
        pass
    assert (e.handle, e.kind, e.reason) == (spec.name, FAILED, "the job was deleted before it finished "
                                            "(cancelled, or deleted from outside Trellis)") or \
        (e.handle, e.kind, e.reason) == (spec.name, FAILED, "the job vanished while the watch was disconnected; "
                                         "its outcome is unknown")
    events.close()


@pytest.mark.parametrize("bookmark_interval_s, is_relisted", [(0.1, False), (3600, True)],
                         ids=["bookmarks keep it current", "without bookmarks it relists"])
def test_a_quiet_watch_kept_current_by_bookmarks_resumes_after_a_compaction_without_relisting(
        caplog, bookmark_interval_s, is_relisted):
    with FakeCluster(bookmark_interval_s=bookmark_interval_s) as cluster:
        executor = executor_for(cluster)
        events = executor.watch(None)
        while next(events) is not None:  # listed
            pass
        for is_cordoned in (True, False):  # the cluster moves on; nothing of Trellis's changes
            cluster.cordon("node-1", is_cordoned=is_cordoned)
        quiet_until = time.monotonic() + 0.6
        while time.monotonic() < quiet_until:
            assert next(events) is None
        caplog.set_level("INFO", logger="scheduling.executors.kubernetes.streams")
        cluster.compact()  # every watch is cut off; resuming from before now is 410 Gone
        spec = job(executor)
        cluster.on(spec.name, Outcome.succeed())
        executor.submit(spec)
        seen = []
        while not seen or seen[-1].kind != EXITED:
            if (event := next(events)) is not None:
                seen.append(event)
        events.close()
    assert (seen[-1].handle, seen[-1].exit_code) == (spec.name, 0)
    assert ("too old" in caplog.text) == is_relisted  # a relist costs a list of every job and pod


def test_a_cut_off_watch_reconnects_and_misses_nothing(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.succeed(run_s=0.3))
    executor.submit(spec)
    def cut_off():
        wait_until(lambda: cluster.api.watching == 2, what="both watches to be open")
        cluster.drop_watches()

    seen = events_of(executor, spec.name, after=cut_off)
    assert [e.kind for e in seen] == [STARTED, EXITED]


def test_a_silently_dead_watch_is_noticed_through_the_watch_timeout(cluster):
    executor = executor_for(cluster, watch_timeout_s=1)
    spec = job(executor)
    cluster.on(spec.name, Outcome.succeed(run_s=0.2))
    started_at = time.monotonic()

    def go_silent_then_submit():
        wait_until(lambda: cluster.api.watching == 2, what="both watches to be open")
        cluster.stall_watches()
        executor.submit(spec)

    seen = events_of(executor, spec.name, after=go_silent_then_submit)
    assert [e.kind for e in seen] == [STARTED, EXITED]
    assert time.monotonic() - started_at > 1  # it took a reconnect


# ---------------------------------------------------------------------- preemption


def pod_exits(cluster, job_name: str) -> list[int]:
    """The exit codes the job's pods ended with (from the fake's history)."""
    codes = []
    for change in cluster.store.changes_after(0):
        if change.resource.plural == "pods" and change.labels.get("job-name") == job_name:
            for status in change.obj["status"].get("containerStatuses") or ():
                if "terminated" in status["state"] and change.type == "MODIFIED":
                    codes.append(status["state"]["terminated"]["exitCode"])
    return codes


@pytest.mark.parametrize("term_s, exit_code", [(0.0, 143), (float("inf"), 137)],
                         ids=["a pod that exits on SIGTERM", "a pod that ignores SIGTERM is killed after the grace"])
def test_preempting_gives_the_pod_sigterm_and_the_grace_period_and_leaves_no_pod(executor, cluster, term_s,
                                                                                 exit_code):
    spec = job(executor)
    cluster.on(spec.name, Outcome.hang(term_s=term_s))
    executor.submit(spec)
    events_of(executor, spec.name, until={STARTED})

    executor.preempt(spec.name, grace_s=1)
    graces = {c.obj["metadata"].get("deletionGracePeriodSeconds") for c in cluster.store.changes_after(0)
              if c.resource.plural == "pods" and c.obj["metadata"].get("deletionTimestamp")}
    assert graces == {1}
    wait_until(lambda: not cluster.pods() and cluster.job(spec.name) is None, what="the job and its pod to go")
    assert pod_exits(cluster, spec.name)[-1] == exit_code
    assert spec.name not in executor.list_active()


def test_preempting_a_pending_job_leaves_no_pod_and_a_gone_job_is_fine(executor, cluster):
    spec = job(executor, gpu=1, gpu_class="h100")  # no such node: it stays pending
    executor.submit(spec)
    wait_until(lambda: cluster.pods(), what="its pod to be made")
    executor.preempt(spec.name, grace_s=5)
    wait_until(lambda: not cluster.pods() and cluster.job(spec.name) is None, what="the job and its pod to go")
    executor.preempt(spec.name, grace_s=5)  # again: nothing to do, no error


def test_a_preempted_job_ends_in_the_watch_like_any_other(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.hang())
    executor.submit(spec)

    seen = events_of(executor, spec.name, after=lambda: executor.preempt(spec.name, grace_s=1))
    assert [e.kind for e in seen] == [STARTED, FAILED]
    assert "deleted before it finished" in seen[-1].reason


# ---------------------------------------------------------------------- run volumes


def test_a_runs_volume_outlives_the_run_by_the_retention_period_then_goes(cluster):
    from datetime import datetime, timedelta, timezone

    executor = executor_for(cluster, volume_retention_s=3600)
    for run_id in (1, 2, 3):
        executor.submit(job(executor, run_id=run_id))
    assert executor.volume_runs() == [1, 2, 3]
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    # run 1 finished two hours ago, run 2 ten minutes ago, run 3 still goes (not final: not given)
    removed = executor.release_volumes({1: now - timedelta(hours=2), 2: now - timedelta(minutes=10)}, now=now)
    assert removed == [1]
    assert sorted(p["metadata"]["name"] for p in cluster.pvcs()) == ["trellis-run-2", "trellis-run-3"]
    assert executor.release_volumes({2: now - timedelta(minutes=10)}, now=now + timedelta(hours=1)) == [2]
    assert executor.volume_runs() == [3]


def test_a_run_that_comes_back_after_its_volume_went_gets_a_new_one(cluster):
    from datetime import datetime, timezone

    executor = executor_for(cluster, volume_retention_s=0)
    executor.submit(job(executor, run_id=7))
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert executor.release_volumes({7: now}, now=now) == [7]
    assert not cluster.pvcs()
    executor.submit(job(executor, run_id=7, attempt=2))  # retried from failure
    assert [p["metadata"]["name"] for p in cluster.pvcs()] == ["trellis-run-7"]


# ---------------------------------------------------------------------- capacity


def test_capacity_is_the_ready_schedulable_nodes_allocatable_by_gpu_class():
    nodes = [node("cpu-1", cpu="8", memory="32Gi"), node("cpu-2", cpu="7500m", memory="16Gi"),
             node("a100-1", cpu="32", memory="256Gi", gpu=8, gpu_class="a100"),
             node("a100-2", gpu=8, gpu_class="a100", is_ready=False),
             node("t4-1", cpu="16", memory="64Gi", gpu=2, gpu_class="t4", is_unschedulable=True)]
    with FakeCluster(nodes=nodes) as cluster:
        executor = executor_for(cluster)
        by_class = executor.capacity_by_class()
        total = executor.capacity()
    assert {k: (c.cpu, c.memory_mb, c.gpu) for k, c in by_class.items()} == {
        "": (15.5, 49152, 0), "a100": (32, 262144, 8)}
    assert (total.cpu, total.memory_mb, total.gpu) == (47.5, 311296, 8)
    assert (total.largest_node.cpu, total.largest_node.memory_mb, total.largest_node.gpu) == (32, 262144, 8)
    assert [(n.name, n.gpu_class, n.gpu) for n in total.nodes] == [("cpu-1", "", 0), ("cpu-2", "", 0),
                                                                  ("a100-1", "a100", 8)]


def test_capacity_follows_nodes_added_removed_cordoned_and_no_longer_ready(cluster):
    executor = executor_for(cluster)
    assert executor.capacity().cpu == 40  # cpu-1 (8) and gpu-1 (32)
    list_calls = cluster.requests

    cluster.add_node(node("cpu-2", cpu="16"))
    wait_until(lambda: executor.capacity().cpu == 56, what="the new node to count")
    cluster.cordon("gpu-1")
    wait_until(lambda: (c := executor.capacity()).cpu == 24 and c.gpu == 0, what="the cordoned node to leave")
    cluster.set_ready("cpu-1", False)
    wait_until(lambda: executor.capacity().cpu == 16, what="the node that is not ready to leave")
    cluster.remove_node("cpu-2")
    wait_until(lambda: executor.capacity().cpu == 0, what="the removed node to leave")
    cluster.cordon("gpu-1", is_cordoned=False)
    wait_until(lambda: executor.capacity_by_class().get("a100") and executor.capacity().gpu == 4,
               what="the uncordoned node to come back")
    assert cluster.requests - list_calls <= 2  # answered from the watch, not by listing each time


def test_capacity_survives_a_cut_node_watch_and_a_compacted_history(cluster):
    executor = executor_for(cluster)
    assert executor.capacity().cpu == 40
    cluster.compact()  # cuts every watch; resuming from the old resourceVersion is 410 Gone
    cluster.add_node(node("cpu-2", cpu="16"))
    wait_until(lambda: executor.capacity().cpu == 56, what="the relisted nodes to count")


# ---------------------------------------------------------------------- the chooser


def test_trellis_executor_kubernetes_gives_an_executor_for_the_configured_cluster(cluster, settings):
    from scheduling.executors import get_executor
    from scheduling.executors.kubernetes import KubernetesExecutor

    settings.TRELLIS_EXECUTOR = "kubernetes"
    settings.TRELLIS_K8S_API_HOST = cluster.host
    settings.TRELLIS_K8S_NAMESPACE = "ml-{team}"
    get_executor.cache_clear()
    executor = None
    try:
        executor = get_executor()
        assert isinstance(executor, KubernetesExecutor)
        assert executor.capacity().gpu == 4
        executor.submit(job(executor))
        assert cluster.jobs()[0]["metadata"]["namespace"] == "ml-vision"
    finally:
        if executor is not None:
            executor.close()
        get_executor.cache_clear()


