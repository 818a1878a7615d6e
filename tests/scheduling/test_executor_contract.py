"""One contract, every executor: submit twice, cancel, resume a watch. (Local for now.)"""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from scheduling.executors.base import EXITED, FAILED, STARTED, JobSpec
from scheduling.executors.local import LocalExecutor

_names = itertools.count()


@pytest.fixture
def executor(tmp_path):
    return LocalExecutor(state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", cpu=2, memory_mb=1024,
                         grace_s=0.5)


def job(executor, script: str, *, timeout_s: int = 60, env=None) -> JobSpec:
    name = f"job-{next(_names)}"
    workdir = executor.workdir(1)
    return JobSpec(name=name, run_id=1, step=name, attempt=1, team="t", image="busybox",
                   command=("sh", "-c", script), env=env or {}, cpu=1, memory_mb=64, gpu=0, gpu_class="",
                   timeout_s=timeout_s, workdir=workdir, log_path=os.path.join(workdir, "logs", f"{name}.log"))


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


def test_a_job_starts_then_exits_with_its_code_and_its_log(executor):
    spec = job(executor, "echo hello; exit 7")
    executor.submit(spec)
    seen = events_until(executor, spec.name, {EXITED})
    assert [(e.kind, e.exit_code) for e in seen] == [(STARTED, None), (EXITED, 7)]
    assert seen[-1].reason == "exited with code 7"
    assert Path(spec.log_path).read_text() == "hello\n"


def test_submitting_the_same_job_twice_runs_it_once(executor, tmp_path):
    counter = tmp_path / "count"
    spec = job(executor, f"echo once >> {counter}")
    assert executor.submit(spec) == executor.submit(spec) == spec.name
    events_until(executor, spec.name, {EXITED})
    assert executor.submit(spec) == spec.name  # even after it finished
    time.sleep(0.2)
    assert counter.read_text() == "once\n"


def test_cancel_stops_the_whole_process_group(executor, tmp_path):
    spec = job(executor, f"sleep 60 & echo $! > {tmp_path / 'child'}; wait")
    executor.submit(spec)
    events_until(executor, spec.name, {STARTED})
    child = int(_wait_for(tmp_path / "child"))
    executor.cancel(spec.name)
    _wait_gone(child)
    assert spec.name not in executor.list_active()


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace(executor, tmp_path):
    spec = job(executor, f"trap '' TERM; echo $$ > {tmp_path / 'pid'}; sleep 60 & wait; sleep 60")
    executor.submit(spec)
    events_until(executor, spec.name, {STARTED})
    pid = int(_wait_for(tmp_path / "pid"))
    executor.cancel(spec.name)
    seen = events_until(executor, spec.name, {EXITED, FAILED}, timeout_s=10)  # watch() escalates to SIGKILL
    assert seen[-1].reason == "killed: still running 0.5 s after SIGTERM"
    _wait_gone(pid)


def test_a_job_past_its_deadline_fails_with_the_timeout_as_reason(executor):
    spec = job(executor, "sleep 60", timeout_s=1)
    executor.submit(spec)
    seen = events_until(executor, spec.name, {FAILED})
    assert seen[-1].reason == "timed out after 1 s"


def test_watch_resumes_after_the_last_position_without_repeating(executor):
    first, second = job(executor, "true"), job(executor, "exit 2")
    executor.submit(first)
    seen = events_until(executor, first.name, {EXITED})
    executor.submit(second)
    later = events_until(executor, second.name, {EXITED}, since=seen[-1].position)
    assert [(e.kind, e.exit_code) for e in later] == [(STARTED, None), (EXITED, 2)]
    replay = []
    for event in executor.watch(seen[-1].position):
        if event is None:
            break
        replay.append(event.handle)
    assert first.name not in replay and replay == [second.name, second.name]


def test_capacity_is_what_the_executor_was_given(executor):
    capacity = executor.capacity()
    assert (capacity.cpu, capacity.memory_mb, capacity.gpu) == (2, 1024, 0)


def _wait_for(path: Path, timeout_s: float = 10) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def _wait_gone(pid: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} is still alive")
