// Which attempt's log the run page shows. The latest attempt's by default, following a retry as
// it happens; an earlier attempt once the reader picks one, until they pick another step.

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
