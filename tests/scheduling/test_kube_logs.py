"""Pod logs copied into the step's log file by the Kubernetes executor's watch (kubernetes/logs.py),
against the fake cluster's pod log endpoint (followed and whole), through the real client."""
from __future__ import annotations

import time

import pytest

from scheduling.executors.base import EXITED, FAILED, STARTED
from tests.fakes.kube import FakeCluster, Outcome
from tests.fakes.kube_executor import executor_for
from tests.scheduling.test_kubernetes_executor import job


@pytest.fixture
def cluster():
    with FakeCluster() as c:
        yield c


@pytest.fixture
def executor(cluster, tmp_path):
    return executor_for(cluster, log_dir=tmp_path / "runs")


def watch_until(executor, handle, kinds, *, since=None, on_idle=None, timeout_s=15):
    """Follow the watch until ``handle`` has an event of ``kinds``; ``on_idle()`` runs whenever it
    has caught up (and returns True once it has done its part)."""
    deadline = time.monotonic() + timeout_s
    for event in executor.watch(since):
        if event is None and on_idle is not None and on_idle():
            on_idle = None
        if event is not None and event.handle == handle and event.kind in kinds:
            return event
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kinds} for {handle}")


def test_the_log_path_is_under_the_log_dir_not_the_pods_volume(executor, tmp_path):
    spec = job(executor, "train", run_id=7, attempt=2)
    assert spec.log_path == "/trellis/runs/7/logs/train.2.log"
    assert executor.log_path(spec) == str(tmp_path / "runs" / "7" / "logs" / "train.2.log")


def test_a_running_pods_log_is_followed_into_the_file_and_completed_when_the_job_ends(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.hang())
    executor.submit(spec)
    path = executor.log_path(spec)
    written = []

    def write_while_running():
        if not written:
            cluster.append_log(spec.name, "epoch 1 loss 0.9\n")
            written.append(1)
            return False
        try:
            text = open(path).read()
        except FileNotFoundError:
            return False
        if text != "epoch 1 loss 0.9\n":
            return False
        # seen in the file while the pod still runs; now more, then the end
        cluster.append_log(spec.name, "epoch 2 loss 0.5\ndone\n")
        cluster.change_outcome(spec.name, Outcome.succeed())
        return True

    watch_until(executor, spec.name, {STARTED})
    end = watch_until(executor, spec.name, {EXITED, FAILED}, on_idle=write_while_running)
    assert (end.kind, end.exit_code) == (EXITED, 0)
    # reported only once the file is whole
    assert open(path).read() == "epoch 1 loss 0.9\nepoch 2 loss 0.5\ndone\n"
    cluster.delete_job(spec.name, propagation="Foreground")  # the TTL controller, say: the pod is gone
    assert not cluster.pods()
    assert open(path).read() == "epoch 1 loss 0.9\nepoch 2 loss 0.5\ndone\n"


def test_a_short_job_seen_only_at_its_end_still_has_its_whole_log(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.exit(2, run_s=0.05, log="Traceback: boom\n"))
    executor.submit(spec)
    time.sleep(0.3)  # it is over before anyone watches
    end = watch_until(executor, spec.name, {EXITED, FAILED})
    assert (end.kind, end.exit_code) == (EXITED, 2)
    assert open(executor.log_path(spec)).read() == "Traceback: boom\n"


def test_a_copy_that_starts_again_does_not_repeat_what_the_file_holds(executor, cluster):
    spec = job(executor)
    cluster.on(spec.name, Outcome.hang())
    executor.submit(spec)
    started = watch_until(executor, spec.name, {STARTED})
    cluster.append_log(spec.name, "one\n")
    path = executor.log_path(spec)
    deadline = time.monotonic() + 5
    events = executor.watch(None)  # a watcher (re)starting: the pod is running, its STARTED comes again
    while not _has(path, "one\n"):
        next(events)
        assert time.monotonic() < deadline, "the log was not followed"
    events.close()
    cluster.append_log(spec.name, "two\n")
    cluster.change_outcome(spec.name, Outcome.succeed())
    watch_until(executor, spec.name, {EXITED}, since=started.position)  # another start, then the end
    assert open(path).read() == "one\ntwo\n"


def _has(path: str, text: str) -> bool:
    try:
        return open(path).read() == text
    except FileNotFoundError:
        return False
