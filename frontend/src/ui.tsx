// Small shared pieces of page furniture.
import { ApiError, errorMessage } from "./api/client";
import type { Problem } from "./api/types";

export function ErrorMessage({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const text =
    error instanceof ApiError && error.status === 404
      ? "Not found, or not shared with your teams."
      : error instanceof ApiError && error.status === 403
        ? `Not allowed: ${error.message}`
        : errorMessage(error);
  return (
    <div className="error-box" role="alert" data-testid="error">
      <span>{text}</span>
      {onRetry && (
        <button type="button" className="link-button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** The server's validation problems, each naming its steps as buttons that select them. */
export function ProblemItems({
  problems,
  onSelect,
}: {
  problems: readonly Problem[];
  onSelect: (step: string) => void;
}) {
  return (
    <ul>
      {problems.map((p, i) => (
        <li key={i} className={`problem problem-${p.severity}`} data-testid="problem" data-code={p.code}>
          <span className="problem-severity">{p.severity === "error" ? "Error" : "Warning"}</span>
          <span className="problem-message">{p.message}</span>
          {p.steps.length > 0 && (
            <span className="problem-steps">
              {[...new Set(p.steps)].map((s) => (
                <button key={s} type="button" className="link-button" onClick={() => onSelect(s)}>
                  {s}
                </button>
              ))}
            </span>
          )}
        </li>
      ))}
    </ul>
  );
}
