import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { api } from "../api/client";
import type { RunSummary } from "../api/types";
import { RUN_FINAL } from "../api/types";
import { useApi } from "../api/useApi";
import { formatAgo, formatDateTime, formatDuration, secondsBetween } from "../format";
import { ErrorMessage } from "../ui";
import { useNow } from "../useNow";
import { StatusBadge } from "./StatusBadge";

interface Props {
  pipelineId?: number;
  limit?: number;
  /** Show previous/next page buttons. */
  paginate?: boolean;
  /** Hide the pipeline column (on a pipeline's own page). */
  hidePipeline?: boolean;
}

const REFRESH_MS = 5000;

export function RunList({ pipelineId, limit = 25, paginate = false, hidePipeline = false }: Props) {
  const [offset, setOffset] = useState(0);
  const runs = useApi((signal) => api.runs({ pipeline: pipelineId, limit, offset }, signal), [pipelineId, limit, offset]);
  const results = runs.data?.results ?? [];
  const hasLiveRuns = results.some((r) => !RUN_FINAL.has(r.status));
  const now = useNow(hasLiveRuns);

  // Statuses change while runs are live: refresh the page of runs now and then.
  const { reload } = runs;
  useEffect(() => {
    if (!hasLiveRuns) return;
    const timer = window.setInterval(reload, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [hasLiveRuns, reload]);

  if (runs.error && !runs.data) return <ErrorMessage error={runs.error} onRetry={runs.reload} />;
  if (!runs.data) return <p className="muted">Loading runs…</p>;
  if (runs.data.count === 0) return <p className="muted empty">No runs yet.</p>;

  return (
    <div data-testid="run-list">
      <table className="table">
        <thead>
          <tr>
            <th>Run</th>
            {!hidePipeline && <th>Pipeline</th>}
            <th>Version</th>
            <th>Status</th>
            <th>By</th>
            <th>Created</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {results.map((run) => (
            <RunRow key={run.id} run={run} now={now} hidePipeline={hidePipeline} />
          ))}
        </tbody>
      </table>
      {paginate && runs.data.count > limit && (
        <nav className="pager">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - limit))}>
            ← Newer
          </button>
          <span className="muted">
            {offset + 1}–{Math.min(offset + limit, runs.data.count)} of {runs.data.count}
          </span>
          <button type="button" disabled={!runs.data.next} onClick={() => setOffset(offset + limit)}>
            Older →
          </button>
        </nav>
      )}
    </div>
  );
}

function RunRow({ run, now, hidePipeline }: { run: RunSummary; now: number; hidePipeline: boolean }) {
  return (
    <tr data-testid={`run-row-${run.id}`}>
      <td>
        <Link to={`/runs/${run.id}`}>#{run.id}</Link>
      </td>
      {!hidePipeline && (
        <td>
          <Link to={`/pipelines/${run.pipeline.id}`}>{run.pipeline.name}</Link>
          <span className="muted"> · {run.team.name}</span>
        </td>
      )}
      <td>v{run.version}</td>
      <td>
        <StatusBadge status={run.status} />
      </td>
      <td>{run.created_by ?? "—"}</td>
      <td title={formatDateTime(run.created_at)}>{formatAgo(run.created_at, now)}</td>
      <td>{run.started_at ? formatDuration(secondsBetween(run.started_at, run.finished_at, now)) : "—"}</td>
    </tr>
  );
}
