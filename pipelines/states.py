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
STEP_MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({QUEUED, SKIPPED, CANCELLED}),
    QUEUED: frozenset({ADMITTED, FAILED, CANCELLED}),  # failed: it can never be scheduled
    ADMITTED: frozenset({RUNNING, FAILED, QUEUED, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, PREEMPTED, CANCELLED}),
    PREEMPTED: frozenset({QUEUED, CANCELLED}),
    FAILED: frozenset({QUEUED}),
    SUCCEEDED: frozenset(),
    CANCELLED: frozenset(),
    SKIPPED: frozenset(),
}

STEP_FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, SKIPPED})
STEP_ACTIVE = frozenset({ADMITTED, RUNNING})  # holding quota
STEP_CANCELLABLE = frozenset({PENDING, QUEUED, ADMITTED, RUNNING, PREEMPTED})

RUN_QUEUED = "queued"
RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
RUN_CANCELLED = "cancelled"

RUN_STATES = (RUN_QUEUED, RUN_RUNNING, RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED)
RUN_MOVES: dict[str, frozenset[str]] = {
    RUN_QUEUED: frozenset({RUN_RUNNING, RUN_FAILED, RUN_CANCELLED}),
    RUN_RUNNING: frozenset({RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED}),
    RUN_SUCCEEDED: frozenset(),
    RUN_FAILED: frozenset(),
    RUN_CANCELLED: frozenset(),
}
RUN_FINAL = frozenset({RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED})


def can_move(current: str, new: str) -> bool:
    return new in STEP_MOVES.get(current, frozenset())


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
