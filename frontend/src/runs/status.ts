// Words and marks for each state, so no state is told by colour alone. Colours live in styles.css
// as .status-<state>.
import type { RunStatus, StepRunStatus } from "../api/types";

export const STEP_STATUS_LABEL: Record<StepRunStatus, string> = {
  pending: "Pending",
  queued: "Queued",
  admitted: "Admitted",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  preempted: "Preempted",
  cancelled: "Cancelled",
  skipped: "Skipped",
};

export const RUN_STATUS_LABEL: Record<RunStatus, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
};

export const STATUS_MARK: Record<StepRunStatus | RunStatus, string> = {
  pending: "○",
  queued: "◔",
  admitted: "◑",
  running: "▶",
  succeeded: "✓",
  failed: "✕",
  preempted: "⏸",
  cancelled: "⊘",
  skipped: "↷",
};

export function statusLabel(status: string): string {
  return (STEP_STATUS_LABEL as Record<string, string>)[status] ?? status;
}
