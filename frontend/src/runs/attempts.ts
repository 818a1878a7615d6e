// Which attempt's log the run page shows. The latest attempt's by default, following a retry as
// it happens; an earlier attempt once the reader picks one, until they pick another step.
// The side panel's list of attempts (newest first) picks through the same functions, so it and
// the log panel always agree on the attempt shown.
import type { StepAttempt, StepRun, StepRunStatus } from "../api/types";
import { secondsBetween } from "../format";

export interface PickedAttempt {
  step: string;
  attempt: number;
}

/** The attempt to show for `step`, whose latest attempt is `latest`. */
export function shownAttempt(picked: PickedAttempt | null, step: string, latest: number): number {
  if (picked === null || picked.step !== step) return latest;
  return picked.attempt >= 1 && picked.attempt < latest ? picked.attempt : latest;
}

/** What picking `attempt` remembers: picking the latest means "follow the latest" (null). */
export function pickAttempt(step: string, attempt: number, latest: number): PickedAttempt | null {
  return attempt >= latest ? null : { step, attempt };
}

/** The choices of the attempt picker, newest first; empty when the step has had one attempt. */
export function attemptChoices(latest: number): { attempt: number; label: string }[] {
  if (latest <= 1) return [];
  return Array.from({ length: latest }, (_, i) => latest - i).map((attempt) => ({
    attempt,
    label: attempt === latest ? `attempt ${attempt} (latest)` : `attempt ${attempt}`,
  }));
}

// --- the side panel's list of attempts ------------------------------------------------------

/** One attempt as the side panel lists it; every text is shown as text. */
export interface AttemptRow {
  attempt: number;
  /** `Attempt 2`, `Attempt 3 (latest)`. */
  label: string;
  status: StepRunStatus;
  /** Seconds it ran (so far, while it runs); null when it has not started or its end is unknown. */
  seconds: number | null;
  /** `exit code 1`; null without one, or for a plain success (exit code 0). */
  exitCode: string | null;
  /** `admitted 2 times (after a preemption)`; null when admitted at most once. */
  admissions: string | null;
  reason: string;
  /** Its log is the one the log panel shows. */
  isShown: boolean;
}

/** Statuses in which an attempt that has started is still going: its duration grows. */
const GOING: ReadonlySet<StepRunStatus> = new Set(["admitted", "running", "preempted"]);

/** The list shows once a step has had more than one attempt. */
export function hasEarlierAttempts(latest: number): boolean {
  return latest > 1;
}

/** What, of the selected step's live state, makes the list worth fetching again: a new attempt
 * or a new status (a preemption's readmission moves the status too). */
export function attemptsFetchKey(stepRun: Pick<StepRun, "attempt" | "status"> | undefined): string {
  return stepRun ? `${stepRun.attempt}:${stepRun.status}` : "";
}

/** The rows of the list, newest first. `shown`: the attempt whose log is shown; `latest`: the
 * step run's latest attempt as the live updates tell it (the fetched list may lag behind). */
export function attemptRows(
  attempts: readonly StepAttempt[],
  { shown, latest, nowMs }: { shown: number; latest: number; nowMs: number },
): AttemptRow[] {
  return [...attempts]
    .sort((a, b) => b.attempt - a.attempt)
    .map((a) => ({
      attempt: a.attempt,
      label: a.attempt === latest ? `Attempt ${a.attempt} (latest)` : `Attempt ${a.attempt}`,
      status: a.status,
      seconds: attemptSeconds(a, nowMs),
      exitCode: a.exit_code === null || (a.exit_code === 0 && a.status === "succeeded") ? null : `exit code ${a.exit_code}`,
      admissions: admissionsNote(a.admissions),
      reason: a.reason,
      isShown: a.attempt === shown,
    }));
}

/** How long an attempt ran: start to end; start to now while it is going; else unknown. */
export function attemptSeconds(a: Pick<StepAttempt, "status" | "started_at" | "finished_at">, nowMs: number): number | null {
  if (a.finished_at) return secondsBetween(a.started_at, a.finished_at);
  return GOING.has(a.status) ? secondsBetween(a.started_at, null, nowMs) : null;
}

/** Whether any attempt's duration still grows (the list then ticks). */
export function isAnyGoing(attempts: readonly StepAttempt[]): boolean {
  return attempts.some((a) => !a.finished_at && a.started_at !== null && GOING.has(a.status));
}

function admissionsNote(admissions: number): string | null {
  if (admissions <= 1) return null;
  const preemptions = admissions - 1;
  return `admitted ${admissions} times (after ${preemptions === 1 ? "a preemption" : `${preemptions} preemptions`})`;
}
