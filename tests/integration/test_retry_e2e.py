"""Retry from failure with real processes: Celery worker, watcher, local executor, Redis."""
from __future__ import annotations

import pytest
from django.utils import timezone

from pipelines import services
from pipelines.models import StepRun, StepRunEvent
from tests.conftest import wait_until
from tests.integration.test_local_pipeline import finished, sh, submit
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    s = Stack().start("worker", "watcher")
    yield s
    s.stop()


def test_retry_from_failure_reruns_only_what_failed_and_the_run_succeeds(stack, make_team, make_user, tmp_path):
    team = make_team("vision")
    user = make_user("ada", team=team)
    counter, fixed = tmp_path / "count", tmp_path / "fixed"
    run = submit(team, user, [
        sh("up", f'echo up >> {counter}; echo 21 > "$TRELLIS_OUTPUT_NUMBER"', outputs=["number"]),
        # fails until the marker file exists: the "bug" the user fixes before retrying
        sh("flaky", f'echo flaky >> {counter}; [ -e {fixed} ] || exit 1; '
                    'echo $(( $(cat "$TRELLIS_INPUT_N") * 2 )) > "$TRELLIS_OUTPUT_RESULT"',
           inputs={"n": "up.number"}, outputs=["result"]),
        sh("after", f'echo after >> {counter}; cat "$TRELLIS_INPUT_R"', inputs={"r": "flaky.result"}),
    ])
    run = wait_until(lambda: finished(run.pk), what="the first try to finish")
    assert run.status == "failed", stack.log_tail("worker")
    assert dict(StepRun.objects.filter(run=run).values_list("step_name", "status")) == {
        "up": "succeeded", "flaky": "failed", "after": "skipped"}
    first_seq = run.last_seq

    fixed.touch()
    assert services.retry_run(run.pk, now=timezone.now(), user=user)
    run = wait_until(lambda: finished(run.pk), what="the retried run to finish")

    assert run.status == "succeeded", run.reason
    assert counter.read_text().split() == ["up", "flaky", "flaky", "after"]  # up ran exactly once
    rows = {sr.step_name: sr for sr in StepRun.objects.filter(run=run)}
    assert {n: (sr.status, sr.attempt) for n, sr in rows.items()} == {
        "up": ("succeeded", 1), "flaky": ("succeeded", 2), "after": ("succeeded", 2)}
    retried = [(e.step_name, e.attempt, e.to_status)
               for e in StepRunEvent.objects.filter(run=run, seq__gt=first_seq).order_by("seq")]
    assert [e for e in retried if e[0] == "up"] == []
    assert [e[2] for e in retried if e[0] == "flaky"] == ["pending", "queued", "admitted", "running", "succeeded"]
    assert [e[2] for e in retried if e[0] == "after"] == ["pending", "queued", "admitted", "running", "succeeded"]
    seqs = list(StepRunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
