import { useState } from "react";
import { Link } from "react-router-dom";
import { api } from "../api/client";
import { useApi } from "../api/useApi";
import { formatAgo, formatDateTime } from "../format";
import { ErrorMessage } from "../ui";

const PAGE = 25;

export function PipelineList() {
  const [offset, setOffset] = useState(0);
  const pipelines = useApi((signal) => api.pipelines({ limit: PAGE, offset }, signal), [offset]);

  if (pipelines.error && !pipelines.data) return <ErrorMessage error={pipelines.error} onRetry={pipelines.reload} />;
  if (!pipelines.data) return <p className="muted">Loading pipelines…</p>;
  const { count, results, next } = pipelines.data;
  if (count === 0) return <p className="muted empty">No pipelines yet.</p>;

  return (
    <div data-testid="pipeline-list">
      <table className="table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Team</th>
            <th>Latest version</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {results.map((p) => (
            <tr key={p.id} data-testid={`pipeline-row-${p.id}`}>
              <td>
                <Link to={`/pipelines/${p.id}`}>{p.name}</Link>
                {p.description && <div className="muted small clamp">{p.description}</div>}
              </td>
              <td>{p.team.name}</td>
              <td>
                {p.latest_version ? (
                  <>
                    v{p.latest_version.number}
                    {p.latest_version.message && <span className="muted"> · {p.latest_version.message}</span>}
                  </>
                ) : (
                  <span className="muted">no version</span>
                )}
              </td>
              <td title={formatDateTime(p.latest_version?.created_at ?? p.created_at)}>
                {formatAgo(p.latest_version?.created_at ?? p.created_at)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {count > PAGE && (
        <nav className="pager">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            ← Previous
          </button>
          <span className="muted">
            {offset + 1}–{Math.min(offset + PAGE, count)} of {count}
          </span>
          <button type="button" disabled={!next} onClick={() => setOffset(offset + PAGE)}>
            Next →
          </button>
        </nav>
      )}
    </div>
  );
}
