// A pipeline: its latest version's DAG (read-only) with the server's problems beside the steps
// they name, the versions, recent runs, and a Run button.
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, errorMessage } from "../api/client";
import type { PipelineDetail, Problem, StepSpec, ValidationResult } from "../api/types";
import { useApi } from "../api/useApi";
import { formatDateTime } from "../format";
import { specToFlow } from "../graph/convert";
import { DagView } from "../graph/DagView";
import { RunList } from "../runs/RunList";
import { ErrorMessage, ProblemItems } from "../ui";

export function PipelinePage() {
  const { id = "" } = useParams();
  const detail = useApi((signal) => api.pipeline(id, signal), [id]);
  if (detail.error && !detail.data) return <ErrorMessage error={detail.error} onRetry={detail.reload} />;
  if (!detail.data) return <p className="muted page-pad">Loading pipeline…</p>;
  return <PipelineView key={detail.data.id} pipeline={detail.data} />;
}

function PipelineView({ pipeline }: { pipeline: PipelineDetail }) {
  const spec = pipeline.spec;
  const validation = useApi(
    (signal) => (spec ? api.validate(spec, signal) : Promise.resolve(null)),
    [spec],
  );
  const [selected, setSelected] = useState<string | null>(null);
  const team = useApi((signal) => api.team(pipeline.team.id, signal), [pipeline.team.id]);
  const canEdit = team.data?.role === "editor" || team.data?.role === "admin";
  const problems = validation.data?.problems;
  const graph = useMemo(() => specToFlow(spec, { problems }), [spec, problems]);
  const selectedStep = spec?.steps.find((s) => s.name === selected);

  return (
    <div className="pipeline-page">
      <header className="page-header">
        <div>
          <nav className="crumbs">
            <Link to="/">Pipelines</Link> /
          </nav>
          <h1 data-testid="pipeline-name">{pipeline.name}</h1>
          <p className="muted">
            Team {pipeline.team.name}
            {pipeline.latest_version && ` · version ${pipeline.latest_version.number}`}
          </p>
          {pipeline.description && <p className="description">{pipeline.description}</p>}
        </div>
        <div className="page-actions">
          {canEdit && (
            <Link to={`/pipelines/${pipeline.id}/edit`} className="button-link" data-testid="edit-pipeline">
              Edit
            </Link>
          )}
          <RunButton pipeline={pipeline} validation={validation.data ?? null} />
        </div>
      </header>

      {spec && spec.steps.length > 0 ? (
        <div className="pipeline-body">
          <DagView
            nodes={graph.nodes}
            edges={graph.edges}
            selected={selectedStep ? selectedStep.name : null}
            onSelect={setSelected}
            label={`Steps of ${pipeline.name}`}
          />
          <aside className="side-panel">
            {selectedStep ? (
              <StepSpecDetails step={selectedStep} onClose={() => setSelected(null)} />
            ) : (
              <Problems
                problems={problems}
                isLoading={validation.isLoading}
                error={validation.error}
                onSelect={setSelected}
                validation={validation.data ?? null}
              />
            )}
          </aside>
        </div>
      ) : (
        <p className="muted empty">This pipeline has no steps yet.</p>
      )}

      <div className="columns">
        <section>
          <h2>Versions</h2>
          <Versions pipeline={pipeline} />
        </section>
        <section>
          <h2>Recent runs</h2>
          <RunList pipelineId={pipeline.id} limit={10} hidePipeline />
        </section>
      </div>
    </div>
  );
}

function RunButton({ pipeline, validation }: { pipeline: PipelineDetail; validation: ValidationResult | null }) {
  const navigate = useNavigate();
  const [isSubmitting, setIsSubmitting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const blockedBy =
    !pipeline.latest_version ? "The pipeline has no version to run." : validation && !validation.is_valid ? "Fix the errors first." : null;

  const submit = async () => {
    setIsSubmitting(true);
    setError(null);
    try {
      const run = await api.submitRun({ pipeline: pipeline.id });
      navigate(`/runs/${run.id}`);
    } catch (err) {
      setError(errorMessage(err));
      setIsSubmitting(false);
    }
  };

  return (
    <div className="run-button">
      <button
        type="button"
        className="primary"
        onClick={submit}
        disabled={isSubmitting || blockedBy !== null}
        title={blockedBy ?? undefined}
        data-testid="run-pipeline"
      >
        {isSubmitting ? "Starting…" : "Run"}
      </button>
      {blockedBy && <p className="muted small">{blockedBy}</p>}
      {error && (
        <p className="error-box" role="alert" data-testid="run-error">
          {error}
        </p>
      )}
    </div>
  );
}

function Problems({
  problems,
  isLoading,
  error,
  onSelect,
  validation,
}: {
  problems: Problem[] | undefined;
  isLoading: boolean;
  error: unknown;
  onSelect: (step: string) => void;
  validation: ValidationResult | null;
}) {
  if (error) return <ErrorMessage error={error} />;
  if (isLoading || !problems) return <p className="muted">Checking the pipeline…</p>;
  return (
    <section className="problems" data-testid="pipeline-problems" data-valid={validation?.is_valid ? "true" : "false"}>
      <h2>Checks</h2>
      {problems.length === 0 ? (
        <p className="ok">✓ No problems found.</p>
      ) : (
        <ProblemItems problems={problems} onSelect={onSelect} />
      )}
      {validation?.critical_path && (
        <p className="muted small">
          Critical path: {validation.critical_path.steps.join(" → ")} (about {Math.round(validation.critical_path.estimated_s)} s)
        </p>
      )}
      <p className="muted small">Select a step to see its settings.</p>
    </section>
  );
}

function StepSpecDetails({ step, onClose }: { step: StepSpec; onClose: () => void }) {
  const r = step.resources;
  return (
    <section className="step-details" data-testid="step-details" data-step={step.name}>
      <header>
        <h2>{step.name}</h2>
        <span className="muted">{step.type}</span>
        <button type="button" className="link-button close" onClick={onClose} aria-label="Close step">
          ✕
        </button>
      </header>
      <dl className="facts">
        <dt>Image</dt>
        <dd className="mono">{step.image}</dd>
        <dt>Command</dt>
        <dd className="mono">{step.command.join(" ") || "—"}</dd>
        {r && (
          <>
            <dt>Resources</dt>
            <dd>
              {r.cpu} CPU · {r.memory_mb} MB{r.gpu ? ` · ${r.gpu} GPU${r.gpu_class ? ` (${r.gpu_class})` : ""}` : ""}
            </dd>
          </>
        )}
        <dt>Inputs</dt>
        <dd>
          {Object.entries(step.inputs ?? {})
            .map(([k, v]) => `${k} ← ${v}`)
            .join(", ") || "—"}
        </dd>
        <dt>Outputs</dt>
        <dd>{(step.outputs ?? []).join(", ") || "—"}</dd>
        <dt>Retries</dt>
        <dd>{step.retries ?? 0}</dd>
        <dt>Timeout</dt>
        <dd>{step.timeout_s ? `${step.timeout_s} s` : "—"}</dd>
      </dl>
    </section>
  );
}

function Versions({ pipeline }: { pipeline: PipelineDetail }) {
  if (pipeline.versions.length === 0) return <p className="muted">No versions yet.</p>;
  return (
    <table className="table" data-testid="version-list">
      <thead>
        <tr>
          <th>Version</th>
          <th>Message</th>
          <th>By</th>
          <th>Saved</th>
        </tr>
      </thead>
      <tbody>
        {pipeline.versions.map((v) => (
          <tr key={v.number}>
            <td>
              <Link to={`/pipelines/${pipeline.id}/versions/${v.number}`}>v{v.number}</Link>
              {v.number === pipeline.latest_version?.number && <span className="tag">latest</span>}
            </td>
            <td>{v.message || <span className="muted">—</span>}</td>
            <td>{v.created_by ?? "—"}</td>
            <td>{formatDateTime(v.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
