"""Every write to pipelines, runs and step runs goes through here.

``transition`` is the one way a step run changes state: a conditional UPDATE (``WHERE status =
<expected> AND attempt = <attempt>``), so a move that lost a race, or a stale or repeated event, is
a no-op. Each applied move writes a StepRunEvent with the run's next sequence number, and may
cause follow-ups in the same transaction (retry, ready dependents, skipped dependents, the run's
own status). Events are published and dispatch is requested only after commit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Collection

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from . import dag, outbox, states
from .models import Pipeline, PipelineVersion, Run, Step, StepRun, StepRunEvent
from .spec import NodeLimits, PipelineSpec, Problem, StepSpec, spec_from_dict, spec_to_dict

log = logging.getLogger(__name__)


class SpecInvalid(Exception):
    """The spec has error-severity problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


class InvalidTransition(Exception):
    pass


# ----------------------------------------------------------------------------- pipelines


def checked_spec(data: dict, limits: NodeLimits | None = None) -> PipelineSpec:
    """Parse and validate a spec dict; raise SpecInvalid listing every error."""
    spec = spec_from_dict(data)
    errors = [p for p in dag.validate(spec, limits) if p.severity == "error"]
    if errors:
        raise SpecInvalid(errors)
    return spec


def create_pipeline(*, team, name: str, spec: dict, user, description: str = "", message: str = "",
                    limits: NodeLimits | None = None) -> Pipeline:
    parsed = checked_spec(spec, limits)
    with transaction.atomic():
        pipeline = Pipeline.objects.create(team=team, name=name, description=description, created_by=user)
        _write_version(pipeline, parsed, user=user, message=message or "created", number=1)
    return pipeline


def save_version(pipeline: Pipeline, *, spec: dict, user, message: str = "",
                 limits: NodeLimits | None = None) -> PipelineVersion:
    """Save a new immutable version; the number is the next free one even under concurrency."""
    parsed = checked_spec(spec, limits)
    for _ in range(5):
        try:
            with transaction.atomic():
                latest = pipeline.versions.aggregate(n=Max("number"))["n"] or 0
                return _write_version(pipeline, parsed, user=user, message=message, number=latest + 1)
        except IntegrityError:
            continue  # someone saved the same number first; take the next one
    raise RuntimeError(f"could not save a version of {pipeline} after 5 attempts")


def _write_version(pipeline: Pipeline, spec: PipelineSpec, *, user, message: str, number: int) -> PipelineVersion:
    version = PipelineVersion.objects.create(
        pipeline=pipeline, number=number, message=message, spec=spec_to_dict(spec), created_by=user
    )
    Step.objects.bulk_create(
        Step(
            version=version, name=s.name, type=s.type, image=s.image, command=list(s.command), env=dict(s.env),
            cpu=s.resources.cpu, memory_mb=s.resources.memory_mb, gpu=s.resources.gpu,
            gpu_class=s.resources.gpu_class, inputs=dict(s.inputs), outputs=list(s.outputs),
            depends_on=list(s.depends_on), retries=s.retries, timeout_s=s.timeout_s, estimate_s=s.estimate_s,
            position_x=s.position.get("x", 0.0), position_y=s.position.get("y", 0.0),
        )
        for s in spec.steps
    )
    return version


# ----------------------------------------------------------------------------- runs


def submit_run(pipeline: Pipeline, *, user, now: datetime, version: PipelineVersion | None = None,
               parameters: dict[str, Any] | None = None, priority: int = 0,
               limits: NodeLimits | None = None) -> Run:
    """Create a run of ``version`` (default: the latest) and queue its root steps."""
    version = version or pipeline.latest_version
    if version is None:
        raise SpecInvalid([Problem(code="empty", message=f"pipeline '{pipeline.name}' has no saved version")])
    spec = checked_spec(version.spec, limits)
    with transaction.atomic():
        run = Run.objects.create(
            pipeline=pipeline, version=version, team_id=pipeline.team_id, spec=version.spec,
            parameters=parameters or {}, priority=priority, created_by=user, excludes=list(spec.excludes),
        )
        run.workdir = str(settings.TRELLIS_RUNS_DIR / str(run.pk))
        run.save(update_fields=["workdir"])
        StepRun.objects.bulk_create(
            StepRun(
                run=run, team_id=run.team_id, step_name=s.name, step_type=s.type, max_attempts=s.retries + 1,
                cpu=s.resources.cpu, memory_mb=s.resources.memory_mb, gpu=s.resources.gpu,
                gpu_class=s.resources.gpu_class, priority=priority, timeout_s=s.timeout_s, gang=s.gang,
                node_selector=dict(s.node_selector), is_preemptible=s.preemptible,
            )
            for s in spec.steps
        )
        roots = StepRun.objects.filter(run=run, step_name__in=[s.name for s in spec.steps if not s.upstream])
        _apply(run, [_Move(sr, states.QUEUED) for sr in roots], now=now)
    return run


def cancel_run(run_id: int, *, now: datetime, reason: str = "cancelled") -> bool:
    """Cancel every unfinished step run and the run itself; stop active jobs after commit.

    The job of a preempted step run is stopping already (SIGTERM sent, killed after its grace
    period): it is left to end as it was told, so a checkpoint it is writing is not cut short.
    """
    with transaction.atomic():
        run = _locked_run(run_id)
        if run is None or run.status in states.RUN_FINAL:
            return False
        open_steps = list(StepRun.objects.filter(run=run, status__in=states.STEP_CANCELLABLE))
        handles = [sr.handle for sr in open_steps if sr.status in states.STEP_ACTIVE and sr.handle]
        _apply(run, [_Move(sr, states.CANCELLED, reason=reason) for sr in open_steps], now=now,
               run_status=states.RUN_CANCELLED, run_reason=reason)
        outbox.request_cancel(handles)
    return True


def retry_run(run_id: int, *, now: datetime, user=None) -> bool:
    """Retry a failed or cancelled run from failure; False, changing nothing, for any other run.

    Its failed, cancelled and skipped step runs start a new attempt (attempt + 1, back to
    pending, a fresh set of the step's retries); those whose upstream steps all succeeded are
    queued at once, the others wait for them as on a first run. Succeeded step runs keep their
    outputs and do not run again. The run is running again (its finished_at cleared). Every move
    is an event, through the same mechanism as every other transition.
    """
    with transaction.atomic():
        run = _locked_run(run_id)
        if run is None or run.status not in states.RUN_RETRYABLE:
            return False
        steps = {s.name: s for s in _spec_of(run).steps}
        rows = {sr.step_name: sr for sr in StepRun.objects.filter(run=run)}
        again = [name for name in steps if rows[name].status in states.STEP_RETRYABLE]
        if not again:  # a cancelled run whose every step had succeeded: nothing to run
            return False
        who = getattr(user, "username", "") or "someone"
        reason = f"retry from failure requested by {who}"
        moves = [_retry_move(rows[name], steps[name], reason) for name in again]
        # The same objects move on: _apply_one leaves each at pending with its new attempt.
        moves += [
            _Move(rows[name], states.QUEUED, reason=reason, fields={"ready_at": now})
            for name in again
            if all(rows[u].status == states.SUCCEEDED for u in steps[name].upstream)
        ]
        _apply(run, moves, now=now, run_status=states.RUN_RUNNING, run_reason="")
    return True


def requeue_preempted(step_run_id: int, *, attempt: int, now: datetime, ended: str = "") -> bool:
    """The job of a preempted step run has ended: the step run goes back to the queue.

    Only now does it stop holding its resources. It stays the same attempt (a preemption is
    neither a failure nor a retry, whatever the job's exit code), keeps ``queued_at`` and so its
    place in line, and drops its handle, so that events of the old job can never move its next
    admission (which gets a job name of its own). ``ended``: how the job ended, for the reason.
    False, changing nothing, when it is no longer preempted at that attempt (cancelled meanwhile,
    or a replayed event).
    """
    with transaction.atomic(savepoint=False):
        sr = StepRun.objects.filter(pk=step_run_id, status=states.PREEMPTED, attempt=attempt).first()
        if sr is None:
            return False
        why = sr.reason.removeprefix("preempted: ") or "the scheduler needed its resources"
        reason = f"preempted ({why}); back in its place in line once its job ended" + (f": {ended}" if ended else "")
        move = _Move(sr, states.QUEUED, reason=reason,
                     fields={"handle": "", "node": "", "is_borrowed": False})
        return bool(_apply(_locked_run(sr.run_id), [move], now=now))


def _retry_move(sr: StepRun, step: StepSpec, reason: str) -> _Move:
    """A finished step run back to pending as a new attempt, with its run-time traces cleared.

    A manual retry grants a fresh set of retries: ``step.retries`` more after this attempt. The
    new attempt gives the job a new name, so a job of the old attempt still shutting down can
    neither be mistaken for it nor report into it.
    """
    assert states.can_move(sr.status, states.PENDING), f"{sr}: {sr.status} -> pending"
    attempt = sr.attempt + 1
    return _Move(sr, states.PENDING, reason=reason, attempt=attempt, fields={
        "max_attempts": attempt + step.retries, "queued_at": None, "ready_at": None, "admitted_at": None,
        "started_at": None, "finished_at": None, "exit_code": None, "handle": "", "node": "", "log_path": "",
        "admissions": 0, "is_borrowed": False,
    })


def transition(step_run_id: int, *, to: str, now: datetime, expected: Collection[str] | str | None = None,
               attempt: int | None = None, reason: str = "", exit_code: int | None = None,
               allow_retry: bool = True, **fields: Any) -> bool:
    """Move one step run to ``to`` if it is still in ``expected`` (and at ``attempt``).

    Returns False, changing nothing, when the step run moved on meanwhile: the caller lost a race
    or replayed a stale event. Follow-ups (retry, dependents, run status) happen in the same
    transaction.
    """
    expected_set = {expected} if isinstance(expected, str) else set(expected or states.STEP_STATES)
    with transaction.atomic(savepoint=False):
        sr = StepRun.objects.filter(pk=step_run_id).first()
        if sr is None or sr.status not in expected_set or (attempt is not None and sr.attempt != attempt):
            return False
        if not states.can_move(sr.status, to):
            raise InvalidTransition(f"step run {sr}: {sr.status} -> {to} is not allowed")
        move = _Move(sr, to, reason=reason, exit_code=exit_code, fields=fields, allow_retry=allow_retry)
        return bool(_apply(_locked_run(sr.run_id), [move], now=now))


# ----------------------------------------------------------------------------- the mechanism


def _locked_run(run_id: int) -> Run | None:
    """The run, locked until commit (a row lock on PostgreSQL; SQLite's IMMEDIATE transaction holds
    the write lock already): its ``last_seq`` is then ours to advance."""
    return Run.objects.select_for_update().filter(pk=run_id).only(
        "id", "team_id", "status", "reason", "last_seq", "created_at"
    ).first()  # not the spec: read (deferred) only when a final move needs it, see _spec_of


_parsed_specs: dict[tuple[int, datetime], PipelineSpec] = {}


def _spec_of(run: Run) -> PipelineSpec:
    """The run's spec, parsed once per process: a run's spec is a snapshot that never changes, and
    reading and parsing a long pipeline's on every transition cost milliseconds each. Keyed by
    creation time too, as a flushed test database hands out ids again."""
    key = (run.pk, run.created_at)
    spec = _parsed_specs.get(key)
    if spec is None:
        if len(_parsed_specs) >= 256:
            _parsed_specs.clear()
        spec = _parsed_specs[key] = spec_from_dict(run.spec)
    return spec


@dataclass
class _Move:
    step_run: StepRun
    to: str
    reason: str = ""
    exit_code: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    attempt: int | None = None  # the attempt after the move (a retry increments it)
    allow_retry: bool = True  # False for a failure that a retry cannot mend


@dataclass(frozen=True)
class _Change:
    step_run_id: int
    step_name: str
    attempt: int
    from_status: str
    to_status: str
    reason: str
    exit_code: int | None
    log_path: str = ""  # set when the move records where the attempt's log is kept (admission)
    is_preemptible: bool = False  # (read for a start only)


def _timestamps(to: str, sr: StepRun, now: datetime) -> dict[str, Any]:
    if to == states.QUEUED:
        return {"queued_at": sr.queued_at or now, "started_at": None, "finished_at": None}
    if to == states.ADMITTED:
        return {"admitted_at": now}
    if to == states.RUNNING:
        return {"started_at": now}
    if to in states.STEP_FINAL or to == states.PREEMPTED:
        return {"finished_at": now}
    return {}


def _apply_one(move: _Move, now: datetime) -> _Change | None:
    sr = move.step_run
    attempt = move.attempt or sr.attempt
    updates = {"status": move.to, "reason": move.reason, "attempt": attempt, **_timestamps(move.to, sr, now)}
    if move.exit_code is not None or move.to == states.QUEUED:
        updates["exit_code"] = move.exit_code
    updates.update(move.fields)
    won = StepRun.objects.filter(pk=sr.pk, status=sr.status, attempt=sr.attempt).update(**updates)
    if not won:
        return None
    change = _Change(sr.pk, sr.step_name, attempt, sr.status, move.to, move.reason, move.exit_code,
                     log_path=move.fields.get("log_path") or "",
                     is_preemptible=move.to == states.RUNNING and sr.is_preemptible)
    for key, value in updates.items():
        setattr(sr, key, value)
    return change


# What follow-ups and the run's outcome read of the run's other step runs (a long pipeline's rows
# cost milliseconds to load whole); a field left out would be read row by row, so add what they read.
_ROW_FIELDS = ("id", "run_id", "step_name", "status", "attempt", "max_attempts", "reason", "exit_code", "queued_at")


def _apply(run: Run, moves: list[_Move], *, now: datetime, run_status: str | None = None,
           run_reason: str = "") -> list[_Change]:
    """Apply moves and their follow-ups, then the run's status, events, publishing, dispatch."""
    changes: list[_Change] = []
    pending = list(moves)
    spec: PipelineSpec | None = None
    rows: dict[str, StepRun] = {}  # every step run of the run, loaded when a final move needs them
    while pending:
        move = pending.pop(0)
        change = _apply_one(move, now)
        if change is None:
            continue
        changes.append(change)
        if move.to in states.STEP_FINAL:
            spec = spec or _spec_of(run)
            rows = rows or {sr.step_name: sr for sr in StepRun.objects.filter(run_id=run.pk).only(*_ROW_FIELDS)}
            rows[move.step_run.step_name] = move.step_run
            pending.extend(_follow_ups(move, spec, rows, now))
    if changes:
        if run_status is None:
            run_status, run_reason = _run_status_after(run, changes, rows)
        _record(run, changes, now=now, run_status=run_status, run_reason=run_reason)
    return changes


def _backoff_s(attempt: int) -> float:
    """Exponential backoff before attempt ``attempt`` (2, 3, ...), capped."""
    base, cap = settings.TRELLIS_RETRY_BACKOFF_S, settings.TRELLIS_RETRY_BACKOFF_MAX_S
    return min(cap, base * 2 ** max(0, attempt - 2))


def _follow_ups(move: _Move, spec: PipelineSpec, rows: dict[str, StepRun], now: datetime) -> list[_Move]:
    sr = move.step_run
    if move.to == states.FAILED:
        if move.allow_retry and sr.attempt < sr.max_attempts:
            delay = _backoff_s(sr.attempt + 1)
            reason = f"retry {sr.attempt + 1} of {sr.max_attempts} in {delay:g} s after: {move.reason}"
            outbox.request_dispatch(countdown=delay)
            return [_Move(sr, states.QUEUED, reason=reason, attempt=sr.attempt + 1,
                          fields={"ready_at": now + timedelta(seconds=delay), "handle": "", "log_path": "",
                                  "admissions": 0, "is_borrowed": False})]
        why = f"upstream step '{sr.step_name}' failed"
        below = dag.downstream(spec, sr.step_name)
        return [
            _Move(rows[name], states.SKIPPED, reason=why)
            for name in spec.names
            if name in below and rows[name].status == states.PENDING
        ]
    if move.to != states.SUCCEEDED:
        return []
    # succeeded: queue each direct dependent whose upstream steps have all succeeded
    ready = []
    for step in spec.steps:
        if sr.step_name in step.upstream and rows[step.name].status == states.PENDING:
            if all(rows[u].status == states.SUCCEEDED for u in step.upstream):
                ready.append(_Move(rows[step.name], states.QUEUED, fields={"ready_at": now}))
    return ready


def _run_status_after(run: Run, changes: list[_Change], rows: dict[str, StepRun]) -> tuple[str, str]:
    """The run's status and reason after ``changes``. Only a final move can end a run, and a final
    move has loaded ``rows`` (all step runs, current), so this needs no query of its own."""
    if rows and any(c.to_status in states.STEP_FINAL for c in changes):
        outcome = states.run_outcome([sr.status for sr in rows.values()])
        if outcome == states.RUN_FAILED:
            failed = [c for c in changes if c.to_status == states.FAILED] or [
                _Change(sr.pk, sr.step_name, sr.attempt, "", sr.status, sr.reason, sr.exit_code)
                for sr in rows.values() if sr.status == states.FAILED
            ]
            return outcome, f"step '{failed[-1].step_name}' failed: {failed[-1].reason}"
        if outcome is not None:
            return outcome, run.reason
    if run.status == states.RUN_QUEUED and any(c.to_status in states.STEP_ACTIVE for c in changes):
        return states.RUN_RUNNING, run.reason
    return run.status, run.reason


def _record(run: Run, changes: list[_Change], *, now: datetime, run_status: str, run_reason: str) -> None:
    """Advance the run's sequence and status, write the events, publish and ask for dispatch."""
    first_seq = run.last_seq + 1
    run_updates: dict[str, Any] = {"last_seq": run.last_seq + len(changes)}
    if run_status != run.status:
        if not states.can_move_run(run.status, run_status):
            raise InvalidTransition(f"run {run.pk}: {run.status} -> {run_status} is not allowed")
        run_updates.update(status=run_status, reason=run_reason[:1000])
        if run_status == states.RUN_RUNNING and run.status in states.RUN_FINAL:
            run_updates["finished_at"] = None  # retried from failure: it keeps its first start
        elif run_status == states.RUN_RUNNING:
            run_updates["started_at"] = now
        if run_status in states.RUN_FINAL:
            run_updates["finished_at"] = now
    Run.objects.filter(pk=run.pk).update(**run_updates)
    for key, value in run_updates.items():
        setattr(run, key, value)
    events = StepRunEvent.objects.bulk_create(
        StepRunEvent(
            run_id=run.pk, step_run_id=c.step_run_id, seq=first_seq + i, step_name=c.step_name,
            attempt=c.attempt, from_status=c.from_status, to_status=c.to_status, reason=c.reason[:1000],
            exit_code=c.exit_code, run_status=run.status, at=now, log_path=c.log_path,
        )
        for i, c in enumerate(changes)
    )
    outbox.publish_step_events([e.as_message() for e in events], team_ids=[run.team_id])
    # Only running work is preempted, so the start of a preemptible step run may be what a waiting
    # dispatch needs; the start of any other changes nothing a dispatch decides.
    frees_or_queues = any(
        c.from_status in states.STEP_HOLDING and (c.to_status != states.RUNNING or c.is_preemptible)
        or c.to_status == states.QUEUED and c.from_status == states.PENDING
        for c in changes
    )
    if frees_or_queues:
        outbox.request_dispatch()

