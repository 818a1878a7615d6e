"""Kubernetes mode end to end: the real Celery worker and watcher (processes, TRELLIS_EXECUTOR=
kubernetes) against the fake cluster (tests/fakes/kube.py), which runs here, in the test process,
and is spoken to over HTTP. Commands do not run: each job's outcome is chosen per run and step.
"""
from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction
from django.utils import timezone

from pipelines import services
from pipelines.examples import load_example
from pipelines.models import Run, StepRun, StepRunEvent
from scheduling.dispatch import dispatch_once, reconcile
from scheduling.dispatch import release_volumes
from scheduling.executors.kubernetes.manifests import ATTEMPT, RUN, STEP
from scheduling.models import Cluster, Cohort, Quota
from tests.conftest import wait_until
from tests.fakes.kube import FakeCluster, Outcome, node
from tests.fakes.kube_api import ApiError
from tests.fakes.kube_executor import executor_for
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# run id -> step, "step#attempt" or the job's own name without "trellis-<run>-" ("train-1-r2": the
# second admission of attempt 1) -> what its pods do
OUTCOMES: dict[int, dict[str, Outcome]] = {}

DEFAULT = Outcome.succeed(run_s=0.05)


def outcome_of(job: dict) -> Outcome:
    notes = job["metadata"]["annotations"]
    planned = OUTCOMES.get(int(notes[RUN]), {})
    own = job["metadata"]["name"].removeprefix(f"trellis-{notes[RUN]}-")
    return planned.get(own) or planned.get(f"{notes[STEP]}#{notes[ATTEMPT]}") or planned.get(notes[STEP], DEFAULT)


@pytest.fixture(scope="module")
def cluster():
    with FakeCluster(nodes=[node("node-1", cpu="16", memory="64Gi")]) as c:
        c.rule(outcome_of)
        yield c


@pytest.fixture(scope="module")
def stack(cluster, django_db_setup, django_db_blocker):
    s = Stack(env={"TRELLIS_EXECUTOR": "kubernetes", "TRELLIS_K8S_API_HOST": cluster.host,
                   "TRELLIS_K8S_PENDING_TIMEOUT_S": "1", "TRELLIS_K8S_WATCH_TIMEOUT_S": "5"}).start("worker", "watcher")
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _all_running(stack):
    """A test that failed with a process killed must not take the next tests down with it."""
    missing = [name for name in ("worker", "watcher") if name not in stack.procs]
    if missing:  # (start() with no names would start every process)
        stack.start(*missing)


def digits(*, retries: int = 0) -> list[dict]:
    steps = load_example("digits")["steps"]
    for s in steps:
        s["retries"] = retries
    return steps


def submit(team, user, steps, outcomes: dict[str, Outcome] | None = None) -> Run:
    """Submit a run whose jobs do what ``outcomes`` says; the worker hears of it only after commit,
    by which time the outcomes are in place."""
    with transaction.atomic():
        pipeline = services.create_pipeline(team=team, name=f"p{time.monotonic_ns()}", spec={"steps": steps},
                                            user=user)
        run = services.submit_run(pipeline, user=user, now=timezone.now())
        OUTCOMES[run.pk] = outcomes or {}
    return run


def finished(run_id) -> Run | None:
    run = Run.objects.get(pk=run_id)
    return run if run.status in ("succeeded", "failed", "cancelled") else None


def moves(run, step) -> list[str]:
    return [e.to_status for e in StepRunEvent.objects.filter(run=run, step_name=step).order_by("seq")]


def jobs_created(cluster, run) -> dict[str, int]:
    """Job name -> how many times a Job of that name was created (from the fake's history)."""
    counts: dict[str, int] = {}
    for change in cluster.store.changes_after(0):
        if change.type == "ADDED" and change.resource.plural == "jobs" and change.labels.get(RUN) == str(run.pk):
            counts[change.obj["metadata"]["name"]] = counts.get(change.obj["metadata"]["name"], 0) + 1
    return counts


def pods_of(cluster, run) -> list[str]:
    return [p["metadata"]["name"] for p in cluster.pods() if p["metadata"]["labels"].get(RUN) == str(run.pk)]


def statuses(run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("step_name", "status"))


@pytest.fixture
def people(make_team, make_user):
    team = make_team("vision", cpu=16, memory_mb=65536)
    return team, make_user("ada", team=team)


def test_the_digits_pipeline_runs_as_jobs_each_step_exactly_once(stack, cluster, people):
    team, user = people
    run = submit(team, user, digits())
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    assert run.status == "succeeded", (run.reason, stack.log_tail("worker"), stack.log_tail("watcher"))
    for step in statuses(run):
        assert moves(run, step) == ["queued", "admitted", "running", "succeeded"], step
    assert jobs_created(cluster, run) == {f"trellis-{run.pk}-{s['name']}-1": 1 for s in digits()}
    assert {sr.node for sr in StepRun.objects.filter(run=run)} == {"node-1"}
    assert [p["metadata"]["name"] for p in cluster.pvcs() if p["metadata"]["labels"].get(RUN) == str(run.pk)] == [
        f"trellis-run-{run.pk}"]


# Each failure outcome: the step's final state and reason; its dependents are skipped.
FAILURES = {
    "exit 1": (Outcome.exit(1, run_s=0.05), "failed", "exited with code 1"),
    "OOMKilled": (Outcome.oom(run_s=0.05), "failed",
                  "OOMKilled: exit 137, the step went over its memory limit of 2048Mi"),
    "ImagePullBackOff": (Outcome.image_pull(), "failed",
                         'ImagePullBackOff: Back-off pulling image "trellis/digits:0.1" (still pending after 1 s)'),
    "ErrImagePull": (Outcome.image_pull(is_backing_off=False), "failed",
                     'ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image '
                     '"trellis/digits:0.1": not found (still pending after 1 s)'),
    "Unschedulable": (Outcome.unschedulable(), "failed", "Unschedulable: 0/1 nodes are available: "
                      "1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available. (still pending after 1 s)"),
    "DeadlineExceeded": (Outcome.hang(), "failed", "DeadlineExceeded: the step ran longer than its timeout of 1 s"),
    "Evicted": (Outcome.evict(run_s=0.05), "failed", "Evicted: The node was low on resource: memory."),
    "pod deleted": (Outcome.delete(run_s=0.05), "failed", "the pod was deleted before it finished"),
}


@pytest.mark.parametrize("outcome, status, reason", FAILURES.values(), ids=FAILURES.keys())
def test_a_failing_job_fails_its_step_with_the_reason_and_skips_its_dependents(stack, cluster, people, outcome,
                                                                                status, reason):
    team, user = people
    steps = digits()
    if outcome.kind == "hang":
        next(s for s in steps if s["name"] == "train-cnn")["timeout_s"] = 1
    run = submit(team, user, steps, {"train-cnn": outcome})
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    assert statuses(run) == {"prepare": "succeeded", "train-mlp": "succeeded", "evaluate-mlp": "succeeded",
                             "train-cnn": status, "evaluate-cnn": "skipped", "select-best": "skipped"}
    failed = StepRun.objects.get(run=run, step_name="train-cnn")
    assert failed.reason.startswith(reason), failed.reason
    assert (run.status, run.reason) == ("failed", f"step 'train-cnn' failed: {failed.reason}")
    if outcome.kind in ("exit", "oom"):
        assert failed.exit_code == outcome.exit_code
    wait_until(lambda: not [j for j in cluster.jobs() if j["metadata"]["labels"].get(RUN) == str(run.pk)
                            and not j["status"].get("conditions")], what="no unfinished job of the run to be left")


def test_a_job_deleted_from_outside_fails_its_step_and_skips_its_dependents(stack, cluster, people):
    team, user = people
    run = submit(team, user, digits(), {"train-cnn": Outcome.hang()})
    wait_until(lambda: StepRun.objects.filter(run=run, step_name="train-cnn", status="running").exists(),
               what="train-cnn to run")
    cluster.delete_job(f"trellis-{run.pk}-train-cnn-1")  # kubectl delete job (background propagation)
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    failed = StepRun.objects.get(run=run, step_name="train-cnn")
    assert (failed.status, failed.reason) == ("failed", "the job was deleted before it finished (cancelled, or "
                                                        "deleted from outside Trellis)")
    assert statuses(run)["evaluate-cnn"] == statuses(run)["select-best"] == "skipped"
    wait_until(lambda: not [p for p in pods_of(cluster, run) if "train-cnn" in p], what="its pod to go")


def test_a_step_killed_for_memory_is_retried_and_its_dependents_run_once(stack, cluster, people):
    team, user = people
    run = submit(team, user, digits(retries=1), {"train-cnn#1": Outcome.oom(run_s=0.05)})
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    assert run.status == "succeeded", run.reason
    cnn = StepRun.objects.get(run=run, step_name="train-cnn")
    assert (cnn.status, cnn.attempt) == ("succeeded", 2)
    assert moves(run, "train-cnn") == ["queued", "admitted", "running", "failed", "queued", "admitted", "running",
                                       "succeeded"]
    created = jobs_created(cluster, run)
    assert (created[f"trellis-{run.pk}-train-cnn-1"], created[f"trellis-{run.pk}-train-cnn-2"]) == (1, 1)
    assert created[f"trellis-{run.pk}-evaluate-cnn-1"] == created[f"trellis-{run.pk}-select-best-1"] == 1


def test_a_finished_runs_volume_goes_after_the_retention_period_and_a_running_runs_stays(stack, cluster, people):
    team, user = people
    done = submit(team, user, digits()[:1])
    done = wait_until(lambda: finished(done.pk), what="a run to finish")
    going = submit(team, user, digits()[:1], {"prepare": Outcome.hang()})
    wait_until(lambda: StepRun.objects.filter(run=going, status="running").exists(), what="the other run to run")
    volumes = lambda: {p["metadata"]["name"] for p in cluster.pvcs()}  # noqa: E731
    assert {f"trellis-run-{done.pk}", f"trellis-run-{going.pk}"} <= volumes()

    kept = release_volumes(executor=executor_for(cluster, volume_retention_s=3600), now=timezone.now())
    assert done.pk not in kept and f"trellis-run-{done.pk}" in volumes()  # within the retention period
    removed = release_volumes(executor=executor_for(cluster, volume_retention_s=0), now=timezone.now())
    assert done.pk in removed and going.pk not in removed
    assert f"trellis-run-{done.pk}" not in volumes() and f"trellis-run-{going.pk}" in volumes()
    services.cancel_run(going.pk, now=timezone.now(), reason="done with it")


def test_cancel_deletes_the_job_and_leaves_no_pod(stack, cluster, people):
    team, user = people
    run = submit(team, user, digits(), {"prepare": Outcome.hang()})
    wait_until(lambda: StepRun.objects.filter(run=run, step_name="prepare", status="running").exists(),
               what="prepare to run")
    assert pods_of(cluster, run)
    assert services.cancel_run(run.pk, now=timezone.now(), reason="cancelled by ada")
    wait_until(lambda: not pods_of(cluster, run) and not cluster.job(f"trellis-{run.pk}-prepare-1"),
               timeout_s=20, what="the job and its pod to go")
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert set(statuses(run).values()) == {"cancelled"}
    time.sleep(0.3)  # the watcher sees the deletion: a cancelled step does not move again
    assert moves(run, "prepare") == ["queued", "admitted", "running", "cancelled"]


def pod_history(cluster, job_name) -> list[dict]:
    """Every state the job's pods were seen in, oldest first."""
    return [c.obj for c in cluster.store.changes_after(0)
            if c.resource.plural == "pods" and c.labels.get("job-name") == job_name]


@pytest.fixture
def four_cpus(cluster):
    """The cluster shrunk to one node of 4 cpu for a test (node-1 cordoned meanwhile)."""
    cluster.add_node(node("node-small", cpu="4", memory="16Gi"))
    cluster.cordon("node-1")
    yield cluster
    cluster.cordon("node-1", is_cordoned=False)
    cluster.remove_node("node-small")


def test_a_preempted_step_gets_its_grace_period_then_goes_back_to_the_queue_and_runs_again(stack, four_cpus,
                                                                                            make_team):
    # Teams a and b lend each other quota (2 cpu each) on a 4-cpu cluster. a's preemptible step
    # runs on 3: one borrowed from b, which b then reclaims.
    cluster = four_cpus
    a, b = make_team("a", cpu=2), make_team("b", cpu=2)
    Quota.objects.filter(team__in=[a, b]).update(cohort=Cohort.objects.create(name="lab"))
    Cluster.objects.update_or_create(name="default", defaults={"policy": "fifo", "preemption_grace_s": 30})
    train = {"name": "train", "type": "custom", "image": "trellis/train:1", "command": ["python", "train.py"],
             "resources": {"cpu": 3, "memory_mb": 256}, "preemptible": True, "timeout_s": 600}
    # Its first job's pod checkpoints for 0.5 s after SIGTERM, well within the grace period.
    borrower = submit(a, None, [train], {"train-1": Outcome.hang(term_s=0.5)})
    first, second = f"trellis-{borrower.pk}-train-1", f"trellis-{borrower.pk}-train-1-r2"
    wait_until(lambda: StepRun.objects.filter(run=borrower, status="running", is_borrowed=True).exists(),
               what="team a's step to run on borrowed quota")

    lender = submit(b, None, [{**train, "name": "evaluate", "resources": {"cpu": 2, "memory_mb": 256},
                               "preemptible": False}])
    borrower = wait_until(lambda: finished(borrower.pk), what="team a's run to finish")
    lender = wait_until(lambda: finished(lender.pk), what="team b's run to finish")

    assert (borrower.status, lender.status) == ("succeeded", "succeeded"), stack.log_tail("worker")
    assert moves(borrower, "train") == ["queued", "admitted", "running", "preempted", "queued", "admitted",
                                        "running", "succeeded"]
    preempted = StepRunEvent.objects.get(run=borrower, to_status="preempted")
    assert preempted.reason.startswith("preempted: team b reclaims its nominal quota"), preempted.reason
    # The pod was deleted with the cluster's grace period, got SIGTERM and exited by itself (143,
    # not killed with 137), and nothing of the first job is left.
    states_seen = pod_history(cluster, first)
    assert {p["metadata"].get("deletionGracePeriodSeconds") for p in states_seen} >= {30}
    ended = [p for p in states_seen if p["status"].get("phase") == "Failed"]
    assert ended and ended[-1]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143
    assert not cluster.job(first) and first not in {p["metadata"]["labels"]["job-name"] for p in cluster.pods()}
    # The same attempt came back with a job of its own; each job was created once.
    sr = StepRun.objects.get(run=borrower)
    assert (sr.attempt, sr.admissions, sr.handle) == (1, 2, second)
    assert jobs_created(cluster, borrower) == {first: 1, second: 1}
    # Team b's step was admitted once a's job had ended, before a's step was admitted again.
    requeued, readmitted = StepRunEvent.objects.filter(run=borrower, to_status__in=["queued", "admitted"]) \
        .order_by("seq").values_list("id", flat=True)[2:4]
    assert requeued < StepRunEvent.objects.get(run=lender, to_status="admitted").id < readmitted


def test_a_watcher_cut_off_while_a_job_completes_resumes_after_410_and_runs_the_next_step_once(stack, cluster,
                                                                                               people):
    team, user = people
    run = submit(team, user, digits(), {"prepare": Outcome.hang()})
    wait_until(lambda: StepRun.objects.filter(run=run, step_name="prepare", status="running").exists(),
               what="prepare to run")
    time.sleep(0.7)  # let the watcher save its position past prepare's start
    stack.kill("watcher")
    # prepare completes while nobody watches...
    cluster.change_outcome(f"trellis-{run.pk}-prepare-1", Outcome.succeed())
    wait_until(lambda: (cluster.job(f"trellis-{run.pk}-prepare-1") or {}).get("status", {}).get("succeeded"),
               what="prepare's job to complete")
    cluster.compact()  # ...and the history it would resume from is gone: 410 Gone on resume
    assert StepRun.objects.get(run=run, step_name="prepare").status == "running"
    stack.start("watcher")
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    assert run.status == "succeeded", run.reason
    for step in statuses(run):
        assert moves(run, step) == ["queued", "admitted", "running", "succeeded"], step
    assert set(jobs_created(cluster, run).values()) == {1}
    assert "too old" in stack.log_tail("watcher", 20000) or "relisting" in stack.log_tail("watcher", 20000)


@pytest.mark.parametrize("is_created", [False, True], ids=["the create never landed", "the create landed late"])
def test_a_worker_killed_between_admission_and_job_creation_leaves_one_job_per_attempt(stack, cluster, people,
                                                                                       is_created):
    team, user = people
    arrived, release = threading.Event(), threading.Event()

    def hold_job_creation(method: str, path: str) -> ApiError | None:
        if method == "POST" and path.endswith("/jobs") and not release.is_set():
            arrived.set()
            release.wait(30)
            if not is_created:
                return ApiError(503, "ServiceUnavailable", "the request never reached the API server")
        return None

    cluster.api.fault = hold_job_creation
    try:
        run = submit(team, user, digits())
        assert arrived.wait(30), stack.log_tail("worker")
        stack.kill("worker")  # admitted in the database, the Job not (yet) created
    finally:
        release.set()
        cluster.api.fault = None
    prepare = StepRun.objects.get(run=run, step_name="prepare")
    assert prepare.status == "admitted"
    name = f"trellis-{run.pk}-prepare-1"
    if is_created:
        wait_until(lambda: cluster.job(name), what="the late create to land")
    else:
        time.sleep(0.2)
        assert cluster.job(name) is None
    executor = executor_for(cluster)
    resubmitted = reconcile(executor=executor, now=timezone.now(), grace_s=0)
    if not is_created:  # (a job that landed may have started already: its step is no longer admitted)
        assert resubmitted == 1
    reconcile(executor=executor, now=timezone.now(), grace_s=0)  # again: still one job
    stack.start("worker")
    run = wait_until(lambda: finished(run.pk), what="the run to finish")
    assert run.status == "succeeded", run.reason
    assert jobs_created(cluster, run) == {f"trellis-{run.pk}-{s['name']}-1": 1 for s in digits()}


def test_a_restarted_watcher_deletes_a_job_no_step_run_holds_and_resubmits_a_missing_one(stack, cluster, people):
    team, user = people
    run = submit(team, user, digits(), {"prepare": Outcome.hang()})
    wait_until(lambda: StepRun.objects.filter(run=run, step_name="prepare", status="running").exists(),
               what="prepare to run")
    stack.kill("watcher")
    stack.kill("worker")
    # While both are down: the run is cancelled (the request to stop its job waits for a worker)...
    assert services.cancel_run(run.pk, now=timezone.now(), reason="cancelled by ada")
    # ...and another run's step is admitted whose job was never created.
    lost = submit(team, user, digits())
    executor = executor_for(cluster)
    dispatch_once(executor=_NoSubmit(executor), policy="fifo", now=timezone.now())
    assert StepRun.objects.get(run=lost, step_name="prepare").status == "admitted"
    assert cluster.job(f"trellis-{lost.pk}-prepare-1") is None

    stack.start("watcher")  # it reconciles before it says it is watching
    assert cluster.job(f"trellis-{run.pk}-prepare-1") is None or \
        cluster.job(f"trellis-{run.pk}-prepare-1")["metadata"].get("deletionTimestamp")
    assert cluster.job(f"trellis-{lost.pk}-prepare-1") is not None
    wait_until(lambda: not pods_of(cluster, run), what="the cancelled run's pod to go")
    stack.start("worker")
    lost = wait_until(lambda: finished(lost.pk), what="the other run to finish")
    assert lost.status == "succeeded", lost.reason
    assert jobs_created(cluster, lost) == {f"trellis-{lost.pk}-{s['name']}-1": 1 for s in digits()}


class _NoSubmit:
    """A worker that dies after admitting, before creating any job."""

    def __init__(self, executor):
        self.executor = executor

    def submit(self, job):
        return job.name

    def __getattr__(self, name):
        return getattr(self.executor, name)


def test_the_step_log_endpoint_shows_the_pods_log_while_it_runs_and_after_the_pod_is_gone(stack, cluster, people,
                                                                                          api):
    team, user = people
    run = submit(team, user, digits()[:1], {"prepare": Outcome.hang()})
    job = f"trellis-{run.pk}-prepare-1"
    wait_until(lambda: StepRun.objects.filter(run=run, step_name="prepare", status="running").exists(),
               what="prepare to run")
    client = api.as_user(user)
    url = f"/api/runs/{run.pk}/steps/prepare/log/"

    cluster.append_log(job, "loading digits\n")
    chunk = wait_until(lambda: (c := client.get(url).json())["text"] and c, what="the log so far")
    assert (chunk["text"], chunk["is_complete"]) == ("loading digits\n", False)

    cluster.append_log(job, "1797 samples\n")
    cluster.change_outcome(job, Outcome.succeed())
    wait_until(lambda: finished(run.pk), what="the run to finish")
    rest = client.get(url, {"offset": chunk["next_offset"]}).json()
    assert (rest["text"], rest["is_complete"]) == ("1797 samples\n", True)

    cluster.delete_job(job, propagation="Foreground")  # the TTL controller's turn: the pod goes
    assert not pods_of(cluster, run)
    whole = client.get(url).json()
    assert (whole["text"], whole["is_complete"]) == ("loading digits\n1797 samples\n", True)
