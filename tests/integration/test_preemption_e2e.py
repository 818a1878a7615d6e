"""Preemption end to end with real processes: Celery worker, watcher, local executor, Redis.

Two teams share a cohort on a 4-cpu machine, 2 cpu each. Team a's preemptible step asks for 3:
it runs on 1 cpu borrowed from team b. Team b then submits a 2-cpu step, and the scheduler takes
its quota back: a's step gets SIGTERM, writes a checkpoint within its grace period, and goes back
to the queue as the same attempt. b's step runs; then a's step is admitted again, resumes from its
checkpoint (its log says so, and its result counts the epochs of both admissions) and completes.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from django.utils import timezone

from pipelines import services
from pipelines.models import Run, StepRun, StepRunEvent
from scheduling.models import Cluster, Cohort, Quota
from tests.conftest import wait_until
from tests.integration.test_local_pipeline import finished
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EXTRA_EPOCHS = 3  # what the resumed admission trains after its checkpoint

# Trains one epoch per 20 ms. On SIGTERM it saves the epoch it reached and exits 143. Resumed from
# a checkpoint, it trains EXTRA_EPOCHS more once the test has released it, and writes its result.
TRAIN = textwrap.dedent(f"""
    import os, signal, sys, time
    checkpoint = os.path.join(os.environ["TRELLIS_CHECKPOINT_DIR"], "epoch")
    release = sys.argv[1]
    start = int(open(checkpoint).read()) if os.path.exists(checkpoint) else 0
    print(f"resumed from epoch {{start}}" if start else "starting fresh", flush=True)
    stopping = False
    def on_term(*_):
        global stopping
        stopping = True
    signal.signal(signal.SIGTERM, on_term)
    epoch = start
    while not (start and os.path.exists(release) and epoch >= start + {EXTRA_EPOCHS}):
        if stopping:
            with open(checkpoint + ".tmp", "w") as f:
                f.write(str(epoch))
            os.replace(checkpoint + ".tmp", checkpoint)
            print(f"checkpointed at epoch {{epoch}}", flush=True)
            sys.exit(143)
        time.sleep(0.02)
        epoch += 1
        print(f"epoch {{epoch}}", flush=True)
    with open(os.environ["TRELLIS_OUTPUT_MODEL"], "w") as f:
        f.write(f"{{start}} {{epoch}}")
""")


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    s = Stack({"TRELLIS_LOCAL_CPUS": "4"}).start("worker", "watcher")
    yield s
    s.stop()


def submit(team, steps, name):
    pipeline = services.create_pipeline(team=team, name=name, spec={"steps": steps}, user=None)
    return services.submit_run(pipeline, user=None, now=timezone.now())


def status(run) -> str:
    return StepRun.objects.get(run=run).status


def moves(run) -> list[tuple[int, str]]:
    return list(StepRunEvent.objects.filter(run=run).order_by("seq").values_list("attempt", "to_status"))


def test_borrowed_step_is_preempted_checkpoints_returns_to_the_queue_and_resumes_to_completion(
        stack, make_team, tmp_path):
    a, b = make_team("a", cpu=2), make_team("b", cpu=2)
    Quota.objects.filter(team__in=[a, b]).update(cohort=Cohort.objects.create(name="lab"))
    Cluster.objects.update_or_create(name="default", defaults={"policy": "fifo", "preemption_grace_s": 30})
    release = tmp_path / "release"

    borrower = submit(a, [{
        "name": "train", "type": "custom", "image": "python", "command": [sys.executable, "-c", TRAIN, str(release)],
        "resources": {"cpu": 3, "memory_mb": 64}, "outputs": ["model"], "preemptible": True, "timeout_s": 120,
    }], name="borrower")
    train = wait_until(lambda: StepRun.objects.filter(run=borrower, status="running").first(),
                       what="team a's step to run on borrowed quota")
    assert train.is_borrowed, stack.log_tail("worker")
    log = Path(train.log_path)
    wait_until(lambda: log.exists() and "epoch 1\n" in log.read_text(), what="team a's step to train")

    lender = submit(b, [{
        "name": "evaluate", "type": "custom", "image": "busybox", "command": ["sh", "-c", "echo evaluated"],
        "resources": {"cpu": 2, "memory_mb": 64},
    }], name="lender")
    wait_until(lambda: moves(borrower).count((1, "queued")) == 2, what="team a's step to be preempted and queued again")
    release.touch()
    borrower = wait_until(lambda: finished(borrower.pk), what="team a's run to finish")
    lender = wait_until(lambda: finished(lender.pk), what="team b's run to finish")

    assert (borrower.status, lender.status) == ("succeeded", "succeeded"), stack.log_tail("worker")
    assert moves(borrower) == [(1, "queued"), (1, "admitted"), (1, "running"), (1, "preempted"), (1, "queued"),
                               (1, "admitted"), (1, "running"), (1, "succeeded")]
    assert moves(lender) == [(1, "queued"), (1, "admitted"), (1, "running"), (1, "succeeded")]
    train = StepRun.objects.get(run=borrower)
    assert (train.attempt, train.admissions) == (1, 2)
    assert train.handle == f"trellis-{borrower.pk}-train-1-r2"
    preempted = StepRunEvent.objects.get(run=borrower, to_status="preempted")
    assert preempted.reason.startswith("preempted: team b reclaims its nominal quota")
    # Resumed, not restarted: the second admission started from the epoch the first one saved.
    checkpointed = int(log.read_text().split("checkpointed at epoch ")[1].split()[0])
    assert checkpointed > 0
    assert f"resumed from epoch {checkpointed}\n" in log.read_text()
    assert log.read_text().count("starting fresh") == 1
    model = Path(borrower.workdir) / "artifacts" / "train" / "model"
    assert model.read_text().split() == [str(checkpointed), str(checkpointed + EXTRA_EPOCHS)]
    # Team b's step took its quota back: admitted once a's job had ended, before a's step returned
    # (event ids grow in the order the events were written, across runs).
    requeued, readmitted = StepRunEvent.objects.filter(run=borrower, to_status__in=["queued", "admitted"]) \
        .order_by("seq").values_list("id", flat=True)[2:4]
    lender_admitted = StepRunEvent.objects.get(run=lender, to_status="admitted").id
    assert requeued < lender_admitted < readmitted
