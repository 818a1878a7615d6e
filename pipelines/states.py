"""The StepRun and Run state machines as data. ``transition`` in services.py enforces them."""
from __future__ import annotations

PENDING = "pending"
QUEUED = "queued"
ADMITTED = "admitted"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
PREEMPTED = "preempted"
CANCELLED = "cancelled"
SKIPPED = "skipped"

STEP_STATES = (PENDING, QUEUED, ADMITTED, RUNNING, SUCCEEDED, FAILED, PREEMPTED, CANCELLED, SKIPPED)

# Allowed moves of a StepRun. "failed" is final unless retries remain (failed -> queued).
# Preemption: running -> preempted when the scheduler tells its job to stop (SIGTERM, a grace
# period to write a checkpoint, then kill); it keeps holding its resources until its job has
# actually ended, and only then preempted -> queued, the same attempt in its old place in line.
# A manual retry of a finished run (``services.retry_run``) moves failed, cancelled and skipped
# step runs back to pending as a new attempt; succeeded ones never move again.
STEP_MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({QUEUED, SKIPPED, CANCELLED}),
    QUEUED: frozenset({ADMITTED, FAILED, CANCELLED}),  # failed: it can never be scheduled
    ADMITTED: frozenset({RUNNING, FAILED, QUEUED, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, PREEMPTED, CANCELLED}),
    PREEMPTED: frozenset({QUEUED, CANCELLED}),
    FAILED: frozenset({QUEUED, PENDING}),  # pending: retried by hand
    SUCCEEDED: frozenset(),
    CANCELLED: frozenset({PENDING}),  # retried by hand
    SKIPPED: frozenset({PENDING}),  # retried by hand
}

STEP_FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, SKIPPED})
STEP_ACTIVE = frozenset({ADMITTED, RUNNING})  # holding quota, its job starting or running
STEP_HOLDING = STEP_ACTIVE | {PREEMPTED}  # holding resources: active, or preempted and still stopping
STEP_CANCELLABLE = frozenset({PENDING, QUEUED, ADMITTED, RUNNING, PREEMPTED})

RUN_QUEUED = "queued"
RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
RUN_CANCELLED = "cancelled"

RUN_STATES = (RUN_QUEUED, RUN_RUNNING, RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED)
# A run is final once every step is; a failed or cancelled run may be retried from failure
# (back to running), a succeeded one never changes again.
RUN_MOVES: dict[str, frozenset[str]] = {
    RUN_QUEUED: frozenset({RUN_RUNNING, RUN_FAILED, RUN_CANCELLED}),
    RUN_RUNNING: frozenset({RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED}),
    RUN_SUCCEEDED: frozenset(),
    RUN_FAILED: frozenset({RUN_RUNNING}),  # retried from failure
    RUN_CANCELLED: frozenset({RUN_RUNNING}),  # retried from failure
}
RUN_FINAL = frozenset({RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED})
RUN_RETRYABLE = frozenset({RUN_FAILED, RUN_CANCELLED})
STEP_RETRYABLE = frozenset({FAILED, CANCELLED, SKIPPED})  # what a retry from failure runs again


def can_move(current: str, new: str) -> bool:
    return new in STEP_MOVES.get(current, frozenset())


def can_move_run(current: str, new: str) -> bool:
    return new in RUN_MOVES.get(current, frozenset())


def run_outcome(step_states: list[str]) -> str | None:
    """The final Run status once every step run is final, else None.

    A run succeeds when every step succeeded; it is cancelled when any step was cancelled
    and none failed; otherwise it failed.
    """
    if not step_states or any(s not in STEP_FINAL for s in step_states):
        return None
    if all(s == SUCCEEDED for s in step_states):
        return RUN_SUCCEEDED
    if FAILED in step_states:
        return RUN_FAILED
    if CANCELLED in step_states:
        return RUN_CANCELLED
    return RUN_FAILED
