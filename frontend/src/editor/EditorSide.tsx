// The side panel when no single step is selected: the server's checks and the version list.
import { Link } from "react-router-dom";
import type { Problem, VersionSummary } from "../api/types";
import { formatDateTime } from "../format";
import { ErrorMessage, ProblemItems } from "../ui";
import { saveErrorLines } from "./dialogs";

interface ProblemProps {
  problems: readonly Problem[] | null;
  error: unknown;
  isChecking: boolean;
  onSelect: (step: string) => void;
}

export function ProblemList({ problems, error, isChecking, onSelect }: ProblemProps) {
  const errors = problems?.filter((p) => p.severity === "error").length ?? 0;
  return (
    <section className="problems" data-testid="pipeline-problems" data-valid={problems && errors === 0 ? "true" : "false"} data-checking={isChecking}>
      <h2>
        Checks {isChecking && <span className="muted small">checking…</span>}
      </h2>
      {error ? (
        <div data-testid="validate-error">
          {saveErrorLines(error).length > 1 ? (
            <ul className="error-box error-list" role="alert">
              {saveErrorLines(error).map((line, i) => (
                <li key={i}>{line}</li>
              ))}
            </ul>
          ) : (
            <ErrorMessage error={error} />
          )}
        </div>
      ) : !problems ? (
        <p className="muted">Checking the pipeline…</p>
      ) : problems.length === 0 ? (
        <p className="ok">✓ No problems found.</p>
      ) : (
        <ProblemItems problems={problems} onSelect={onSelect} />
      )}
    </section>
  );
}

interface VersionProps {
  pipelineId: number;
  versions: readonly VersionSummary[];
  current: number | null;
  canRestore: boolean;
  onRestore: (number: number) => void;
}

export function VersionList({ pipelineId, versions, current, canRestore, onRestore }: VersionProps) {
  return (
    <section className="versions" data-testid="version-list">
      <h2>Versions</h2>
      {versions.length === 0 ? (
        <p className="muted">Not saved yet.</p>
      ) : (
        <ol className="version-items">
          {versions.map((v) => (
            <li key={v.number} className={v.number === current ? "is-current" : ""} data-testid={`version-${v.number}`}>
              <div className="version-line">
                <strong>v{v.number}</strong>
                <span className="version-message">{v.message || <span className="muted">no message</span>}</span>
              </div>
              <div className="version-line muted small">
                <span>
                  {v.created_by ?? "someone"} · {formatDateTime(v.created_at)}
                </span>
                <span className="version-actions">
                  <Link to={`/pipelines/${pipelineId}/versions/${v.number}`} data-testid={`open-version-${v.number}`}>
                    Open
                  </Link>
                  {canRestore && (
                    <button type="button" className="link-button" onClick={() => onRestore(v.number)} data-testid={`restore-version-${v.number}`}>
                      Restore
                    </button>
                  )}
                </span>
              </div>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
