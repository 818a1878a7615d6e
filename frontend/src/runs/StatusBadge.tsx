import type { RunStatus, StepRunStatus } from "../api/types";
import { STATUS_MARK, statusLabel } from "./status";

interface Props {
  status: StepRunStatus | RunStatus;
  testId?: string;
}

/** The state as a coloured pill with a mark and a word. */
export function StatusBadge({ status, testId }: Props) {
  return (
    <span className={`badge status-${status}`} data-testid={testId} data-status={status}>
      <span className="badge-mark" aria-hidden="true">
        {STATUS_MARK[status] ?? "•"}
      </span>
      {statusLabel(status)}
    </span>
  );
}
