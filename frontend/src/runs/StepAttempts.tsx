// The selected step's attempts, newest first, each with its status, duration and why it ended
// as it did. Picking one shows its log (the same pick as the log panel's attempt picker). The
// list is fetched again whenever the live updates move the step to a new attempt or status.
import { api, errorMessage } from "../api/client";
import type { StepRun } from "../api/types";
import { useApi } from "../api/useApi";
import { formatDuration } from "../format";
import { useNow } from "../useNow";
import { attemptRows, attemptsFetchKey, isAnyGoing } from "./attempts";
import "./attempts.css";
import { StatusBadge } from "./StatusBadge";

interface Props {
  runId: number;
  step: string;
  stepRun: StepRun;
  /** The attempt whose log is shown. */
  shown: number;
  onPick: (attempt: number) => void;
}

export function StepAttempts({ runId, step, stepRun, shown, onPick }: Props) {
  const fetchKey = attemptsFetchKey(stepRun);
  const attempts = useApi((signal) => api.stepAttempts(runId, step, signal), [runId, step, fetchKey]);
  const data = attempts.data ?? [];
  const now = useNow(isAnyGoing(data));
  const rows = attemptRows(data, { shown, latest: stepRun.attempt, nowMs: now });
  const headingId = `attempts-${step}`;

  return (
    <section className="step-attempts" aria-labelledby={headingId} data-testid="step-attempts" data-count={data.length}>
      <h3 id={headingId}>Attempts</h3>
      {attempts.error !== null && (
        <p className="log-error" role="status" data-testid="step-attempts-error">
          Could not load the attempts: {errorMessage(attempts.error)}{" "}
          <button type="button" className="link-button" onClick={attempts.reload}>
            Try again
          </button>
        </p>
      )}
      {attempts.data === undefined && attempts.error === null && <p className="muted">Loading attempts…</p>}
      <ul className="attempt-list">
        {rows.map((row) => (
          <li key={row.attempt}>
            <button
              type="button"
              className="attempt-item"
              aria-pressed={row.isShown}
              onClick={() => onPick(row.attempt)}
              title={row.isShown ? "Its log is shown below" : "Show its log"}
              data-testid={`attempt-${row.attempt}`}
              data-status={row.status}
            >
              <span className="attempt-head">
                <span className="attempt-name">{row.label}</span>
                <StatusBadge status={row.status} />
                <span className="attempt-duration" data-testid={`attempt-${row.attempt}-duration`}>
                  {formatDuration(row.seconds)}
                </span>
              </span>
              {(row.exitCode !== null || row.admissions !== null) && (
                <span className="attempt-meta">
                  {[row.exitCode, row.admissions].filter((part) => part !== null).join(" · ")}
                </span>
              )}
              {row.reason && (
                <span className="attempt-reason" data-testid={`attempt-${row.attempt}-reason`}>
                  {row.reason}
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
