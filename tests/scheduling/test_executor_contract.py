"""One contract, every executor: submit twice, cancel, exit codes, timeouts, resume a watch.

The same tests run against the local executor (real processes) and the Kubernetes executor
(the real client against the fake cluster in tests/fakes, over HTTP). A ``Harness`` hides only
how a job is told what to do: a shell script locally, a planned pod outcome on the cluster.
"""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from scheduling.executors.base import EXITED, FAILED, STARTED, JobSpec
from scheduling.executors.local import LocalExecutor
from tests.conftest import wait_until
from tests.fakes.kube import FakeCluster, Outcome
from tests.fakes.kube_executor import executor_for

_names = itertools.count()


class LocalHarness:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.executor = LocalExecutor(state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", cpu=2,
                                      memory_mb=1024, grace_s=0.5)

    def job(self, *, exit_code: int = 0, is_forever: bool = False, timeout_s: int = 60) -> JobSpec:
        name = f"job-{next(_names)}"
        marker = self.tmp / name
        script = f"echo ran >> {marker}; " + (f"sleep 60 & echo $! > {marker}.child; wait" if is_forever
                                             else f"sleep 0.05; exit {exit_code}")
        return spec(self.executor, name, ("sh", "-c", script), timeout_s)

    def times_run(self, spec: JobSpec) -> int:
        path = self.tmp / spec.name
        return len(path.read_text().splitlines()) if path.exists() else 0

    def leftovers(self, spec: JobSpec) -> list[str]:
        """The job's processes still alive."""
        child = self.tmp / f"{spec.name}.child"
        pid = int(child.read_text()) if child.exists() and child.read_text().strip() else None
        return [str(pid)] if pid and _is_alive(pid) else []

    def close(self) -> None:
        pass


class KubernetesHarness:
    def __init__(self) -> None:
        self.cluster = FakeCluster()
        self.executor = executor_for(self.cluster)

    def job(self, *, exit_code: int = 0, is_forever: bool = False, timeout_s: int = 60) -> JobSpec:
        name = f"job-{next(_names)}"
        self.cluster.on(name, Outcome.hang() if is_forever else Outcome.exit(exit_code, run_s=0.05))
        return spec(self.executor, name, ("python", "train.py"), timeout_s)

    def times_run(self, spec: JobSpec) -> int:
        return sum(1 for p in self.cluster.store.changes_after(0)
                   if p.type == "ADDED" and p.resource.plural == "pods" and p.labels.get("job-name") == spec.name)

    def leftovers(self, spec: JobSpec) -> list[str]:
        return [p["metadata"]["name"] for p in self.cluster.pods() if p["metadata"]["labels"].get("job-name") == spec.name]

    def close(self) -> None:
        self.cluster.close()


def spec(executor, name: str, command: tuple[str, ...], timeout_s: int) -> JobSpec:
    workdir = executor.workdir(1)
    return JobSpec(name=name, run_id=1, step=name, attempt=1, team="t", image="busybox", command=command, env={},
                   cpu=1, memory_mb=64, gpu=0, gpu_class="", timeout_s=timeout_s, workdir=workdir,
                   log_path=os.path.join(workdir, "logs", f"{name}.log"))


@pytest.fixture(params=["local", "kubernetes"])
def harness(request, tmp_path):
    h = LocalHarness(tmp_path) if request.param == "local" else KubernetesHarness()
    yield h
    h.close()


def events_until(executor, handle, kinds, since=None, timeout_s=20):
    """Watch from ``since`` until ``handle`` reports an event of one of ``kinds``; return all seen."""
    seen, deadline = [], time.monotonic() + timeout_s
    for event in executor.watch(since):
        if event is not None and event.handle == handle:
            seen.append(event)
            if event.kind in kinds:
                return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kinds} for {handle}; saw {seen}")


def test_a_job_starts_then_exits_with_its_code(harness):
    job = harness.job(exit_code=7)
    harness.executor.submit(job)
    seen = events_until(harness.executor, job.name, {EXITED})
    assert [(e.kind, e.exit_code) for e in seen] == [(STARTED, None), (EXITED, 7)]
    assert seen[-1].reason == "exited with code 7"
    assert seen[0].node


def test_submitting_the_same_job_twice_runs_it_once(harness):
    job = harness.job()
    assert harness.executor.submit(job) == harness.executor.submit(job) == job.name
    events_until(harness.executor, job.name, {EXITED})
    assert harness.executor.submit(job) == job.name  # even after it finished
    time.sleep(0.2)
    assert harness.times_run(job) == 1


def test_cancel_leaves_nothing_of_the_job_running(harness):
    job = harness.job(is_forever=True)
    harness.executor.submit(job)
    events_until(harness.executor, job.name, {STARTED})
    wait_until(lambda: harness.times_run(job) and (not isinstance(harness, LocalHarness) or harness.leftovers(job)))
    harness.executor.cancel(job.name)
    wait_until(lambda: not harness.leftovers(job), what=f"{job.name} to leave nothing behind")
    assert job.name not in harness.executor.list_active()


def test_preempt_stops_the_job_its_end_is_reported_and_nothing_is_left_running(harness):
    job = harness.job(is_forever=True)
    harness.executor.submit(job)
    started = events_until(harness.executor, job.name, {STARTED})
    wait_until(lambda: harness.times_run(job) and (not isinstance(harness, LocalHarness) or harness.leftovers(job)))
    harness.executor.preempt(job.name, grace_s=1)
    wait_until(lambda: not harness.leftovers(job), what=f"{job.name} to leave nothing behind")
    ended = events_until(harness.executor, job.name, {EXITED, FAILED}, since=started[-1].position)
    assert ended[-1].kind in (EXITED, FAILED)
    assert job.name not in harness.executor.list_active()


def test_a_job_past_its_deadline_fails_with_the_timeout_in_its_reason(harness):
    job = harness.job(is_forever=True, timeout_s=1)
    harness.executor.submit(job)
    seen = events_until(harness.executor, job.name, {EXITED, FAILED})
    assert seen[-1].kind == FAILED
    assert "timed out after 1 s" in seen[-1].reason or "longer than its timeout of 1 s" in seen[-1].reason


def test_watch_resumes_after_the_last_position_without_repeating(harness):
    first, second = harness.job(), harness.job(exit_code=2)
    harness.executor.submit(first)
    seen = events_until(harness.executor, first.name, {EXITED})
    harness.executor.submit(second)
    later = events_until(harness.executor, second.name, {EXITED}, since=seen[-1].position)
    assert [(e.kind, e.exit_code) for e in later] == [(STARTED, None), (EXITED, 2)]
    replay = []
    for event in harness.executor.watch(seen[-1].position):
        if event is None and len(replay) >= 2:
            break
        if event is not None:
            replay.append((event.handle, event.kind))
    assert replay == [(second.name, STARTED), (second.name, EXITED)]


def test_list_active_names_the_running_jobs_only(harness):
    running, done = harness.job(is_forever=True), harness.job()
    harness.executor.submit(running)
    harness.executor.submit(done)
    events_until(harness.executor, done.name, {EXITED})
    events_until(harness.executor, running.name, {STARTED})
    assert harness.executor.list_active() == [running.name]
    harness.executor.cancel(running.name)


# ---------------------------------------------------------------------- local only


@pytest.fixture
def local(tmp_path):
    return LocalHarness(tmp_path).executor


def test_a_local_job_writes_its_log_where_the_spec_says(local):
    job = spec(local, "logged", ("sh", "-c", "echo hello"), 60)
    local.submit(job)
    events_until(local, job.name, {EXITED})
    assert Path(job.log_path).read_text() == "hello\n"


def test_a_local_job_that_ignores_sigterm_is_killed_after_the_grace(local, tmp_path):
    job = spec(local, "stubborn", ("sh", "-c", f"trap '' TERM; echo $$ > {tmp_path / 'pid'}; sleep 60 & wait; sleep 60"), 60)
    local.submit(job)
    events_until(local, job.name, {STARTED})
    pid = int(wait_until(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text().strip()))
    local.cancel(job.name)
    seen = events_until(local, job.name, {EXITED, FAILED}, timeout_s=10)  # watch() escalates to SIGKILL
    assert seen[-1].reason == "killed: still running 0.5 s after SIGTERM"
    wait_until(lambda: not _is_alive(pid), what=f"process {pid} to end")


def test_local_capacity_is_what_the_executor_was_given(local):
    capacity = local.capacity()
    assert (capacity.cpu, capacity.memory_mb, capacity.gpu) == (2, 1024, 0)


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
