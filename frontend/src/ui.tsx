// Small shared pieces of page furniture.
import { ApiError, errorMessage } from "./api/client";

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
