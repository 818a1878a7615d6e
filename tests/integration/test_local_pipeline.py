"""The whole path with real processes: Celery worker, watcher, local executor, Redis."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.utils import timezone

from pipelines import services
from pipelines.models import Run, StepRun, StepRunEvent
from tests.conftest import wait_until
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    s = Stack().start("worker", "watcher")
    yield s
    s.stop()


def sh(name, script, *, inputs=None, outputs=(), retries=0, timeout_s=60, depends_on=()):
    return {"name": name, "type": "custom", "image": "busybox", "command": ["sh", "-c", script],
            "resources": {"cpu": 0.1, "memory_mb": 64}, "inputs": inputs or {}, "outputs": list(outputs),
            "retries": retries, "timeout_s": timeout_s, "depends_on": list(depends_on)}


def submit(team, user, steps, name="p"):
    pipeline = services.create_pipeline(team=team, name=name, spec={"steps": steps}, user=user)
    return services.submit_run(pipeline, user=user, now=timezone.now())


def finished(run_id):
    run = Run.objects.get(pk=run_id)
    return run if run.status in ("succeeded", "failed", "cancelled") else None


def transitions(run):
    return [(e.step_name, e.attempt, e.to_status) for e in StepRunEvent.objects.filter(run=run).order_by("seq")]


def test_small_pipeline_runs_each_step_exactly_once_and_passes_artifacts(stack, make_team, make_user):
    team = make_team("vision")
    user = make_user("ada", team=team)
    run = submit(team, user, [
        sh("make", 'echo 21 > "$TRELLIS_OUTPUT_NUMBER"', outputs=["number"]),
        sh("double", 'echo $(( $(cat "$TRELLIS_INPUT_N") * 2 )) > "$TRELLIS_OUTPUT_RESULT"',
           inputs={"n": "make.number"}, outputs=["result"]),
        sh("shout", 'echo "$(cat "$TRELLIS_INPUT_N") loud"', inputs={"n": "make.number"}),
    ])
    run = wait_until(lambda: finished(run.pk), timeout_s=60, what="the run to finish")
    assert run.status == "succeeded", stack.log_tail("worker")
    assert (Path(run.workdir) / "artifacts" / "double" / "result").read_text().strip() == "42"
    for step in ("make", "double", "shout"):
        assert [t[2] for t in transitions(run) if t[0] == step] == ["queued", "admitted", "running", "succeeded"]
    seqs = list(StepRunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_failed_step_skips_its_dependents_and_the_run_fails_naming_it(stack, make_team, make_user):
    team = make_team("vision")
    user = make_user("ada", team=team)
    run = submit(team, user, [
        sh("ok", "true"),
        sh("broken", "echo boom >&2; exit 3", depends_on=["ok"]),
        sh("after", "true", depends_on=["broken"]),
        sh("later", "true", depends_on=["after"]),
    ])
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    states = dict(StepRun.objects.filter(run=run).values_list("step_name", "status"))
    assert states == {"ok": "succeeded", "broken": "failed", "after": "skipped", "later": "skipped"}
    assert run.status == "failed"
    assert run.reason == "step 'broken' failed: exited with code 3"
    assert StepRun.objects.get(run=run, step_name="broken").exit_code == 3


def test_retry_succeeds_on_the_second_attempt(stack, make_team, make_user, tmp_path):
    team = make_team("vision")
    user = make_user("ada", team=team)
    marker = tmp_path / "tried"
    run = submit(team, user, [sh("flaky", f'if [ -e {marker} ]; then exit 0; fi; touch {marker}; exit 1', retries=2)])
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    assert run.status == "succeeded"
    assert transitions(run) == [
        ("flaky", 1, "queued"), ("flaky", 1, "admitted"), ("flaky", 1, "running"), ("flaky", 1, "failed"),
        ("flaky", 2, "queued"), ("flaky", 2, "admitted"), ("flaky", 2, "running"), ("flaky", 2, "succeeded"),
    ]


def test_timeout_fails_the_step_with_its_reason(stack, make_team, make_user):
    team = make_team("vision")
    user = make_user("ada", team=team)
    run = submit(team, user, [sh("slow", "sleep 30", timeout_s=1)])
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    step = StepRun.objects.get(run=run)
    assert (run.status, step.status, step.reason) == ("failed", "failed", "timed out after 1 s")


def _pids_in_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def test_cancel_leaves_no_process_behind(stack, make_team, make_user):
    team = make_team("vision")
    user = make_user("ada", team=team)
    # a step that starts a child of its own and ignores nothing: the whole group must go
    run = submit(team, user, [sh("sleepy", 'sleep 300 & echo "$$" > "$TRELLIS_WORKDIR/pid"; wait')])
    step = wait_until(lambda: StepRun.objects.filter(run=run, status="running").first(), what="the step to run")
    pid_file = Path(run.workdir) / "pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the step's pid")
    pgid = os.getpgid(int(pid_file.read_text()))
    assert _pids_in_group(pgid)

    assert services.cancel_run(run.pk, now=timezone.now(), reason="cancelled by ada")
    wait_until(lambda: not _pids_in_group(pgid), timeout_s=20, what="the step's processes to end")
    run.refresh_from_db()
    step.refresh_from_db()
    assert (run.status, step.status) == ("cancelled", "cancelled")


def test_worker_killed_mid_run_neither_loses_nor_repeats_a_step(stack, make_team, make_user, tmp_path):
    team = make_team("vision")
    user = make_user("ada", team=team)
    counter = tmp_path / "count"
    step = lambda n, **kw: sh(n, f'echo {n} >> {counter}; sleep 0.5', **kw)  # noqa: E731
    run = submit(team, user, [step("a"), step("b", depends_on=["a"]), step("c", depends_on=["b"]),
                              step("d", depends_on=["c"])])
    wait_until(lambda: StepRun.objects.filter(run=run, step_name="b", status="running").exists(), what="b to run")
    stack.kill("worker")
    time.sleep(1.0)  # b finishes while no worker is alive; its dependents must wait, not vanish
    stack.start("worker")
    run = wait_until(lambda: finished(run.pk), timeout_s=60, what="the run to finish")
    assert run.status == "succeeded"
    assert counter.read_text().split() == ["a", "b", "c", "d"]


def test_watcher_killed_mid_run_resumes_and_each_step_runs_once(stack, make_team, make_user, tmp_path):
    team = make_team("vision")
    user = make_user("ada", team=team)
    counter = tmp_path / "count"
    step = lambda n, **kw: sh(n, f'echo {n} >> {counter}; sleep 0.5', **kw)  # noqa: E731
    run = submit(team, user, [step("a"), step("b", depends_on=["a"]), step("c", depends_on=["b"])])
    wait_until(lambda: StepRun.objects.filter(run=run, step_name="b", status="running").exists(), what="b to run")
    stack.kill("watcher")
    time.sleep(1.0)  # b exits while nobody watches; its exit waits in the executor's journal
    assert StepRun.objects.get(run=run, step_name="b").status == "running"
    stack.start("watcher")
    run = wait_until(lambda: finished(run.pk), timeout_s=60, what="the run to finish")
    assert run.status == "succeeded"
    assert counter.read_text().split() == ["a", "b", "c"]
    for name in ("a", "b", "c"):
        assert [t[2] for t in transitions(run) if t[0] == name] == ["queued", "admitted", "running", "succeeded"]
