// One run, live: the DAG coloured by step state, the run's status and times, cancel, and the
// selected step's details and log.
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { api, errorMessage } from "../api/client";
import type { RunDetail, StepRun } from "../api/types";
import { RUN_FINAL } from "../api/types";
import { useApi } from "../api/useApi";
import { formatDateTime, formatDuration, secondsBetween } from "../format";
import { specToFlow } from "../graph/convert";
import { DagView } from "../graph/DagView";
import { ErrorMessage } from "../ui";
import { useNow } from "../useNow";
import { LogPanel } from "./LogPanel";
import { stepRunsByStep } from "./runEvents";
import { StatusBadge } from "./StatusBadge";
import { useRunEvents, type ConnectionState } from "./useRunEvents";

const CONNECTION_LABEL: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Finished",
};

export function RunPage() {
  const { id = "" } = useParams();
  const events = useRunEvents(id);
  const initial = useApi((signal) => api.run(id, signal), [id]);
  const { applyRun } = events;
  useEffect(() => {
    if (initial.data) applyRun(initial.data);
  }, [initial.data, applyRun]);

  const run = events.run;
  if (!run) {
    if (initial.error) return <ErrorMessage error={initial.error} onRetry={initial.reload} />;
    return <p className="muted page-pad">Loading run…</p>;
  }
  return <RunView key={run.id} run={run} connection={events.connection} onRunChanged={applyRun} />;
}

interface ViewProps {
  run: RunDetail;
  connection: ConnectionState;
  onRunChanged: (run: RunDetail) => void;
}

function RunView({ run, connection, onRunChanged }: ViewProps) {
  const [searchParams, setSearchParams] = useSearchParams();
  const selected = searchParams.get("step");
  const select = useCallback(
    (step: string | null) => {
      setSearchParams(
        (params) => {
          const next = new URLSearchParams(params);
          if (step) next.set("step", step);
          else next.delete("step");
          return next;
        },
        { replace: true },
      );
    },
    [setSearchParams],
  );

  const stepRuns = useMemo(() => stepRunsByStep(run), [run]);
  const graph = useMemo(() => specToFlow(run.spec, { stepRuns }), [run.spec, stepRuns]);
  const edges = useMemo(
    () =>
      graph.edges.map((edge) => {
        const target = stepRuns.get(edge.target)?.status;
        return target === "running" || target === "admitted" ? { ...edge, animated: true } : edge;
      }),
    [graph.edges, stepRuns],
  );
  const selectedStep = selected ? run.spec.steps.find((s) => s.name === selected) : undefined;

  return (
    <div className="run-page">
      <RunHeader run={run} connection={connection} onRunChanged={onRunChanged} />
      <div className="run-body">
        <DagView
          nodes={graph.nodes}
          edges={edges}
          selected={selectedStep ? selectedStep.name : null}
          onSelect={select}
          label={`Steps of run ${run.id}`}
        />
        <aside className="side-panel" data-testid="side-panel">
          {selectedStep ? (
            <>
              <StepRunDetails name={selectedStep.name} stepRun={stepRuns.get(selectedStep.name)} onClose={() => select(null)} />
              <LogPanel
                key={selectedStep.name}
                runId={run.id}
                step={selectedStep.name}
                status={stepRuns.get(selectedStep.name)?.status}
              />
            </>
          ) : (
            <StepPicker run={run} stepRuns={stepRuns} onSelect={select} />
          )}
        </aside>
      </div>
    </div>
  );
}

function RunHeader({ run, connection, onRunChanged }: ViewProps) {
  const isFinal = RUN_FINAL.has(run.status);
  const now = useNow(!isFinal && run.started_at !== null);
  const [isCancelling, setIsCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);

  const cancel = async () => {
    setIsCancelling(true);
    setCancelError(null);
    try {
      onRunChanged(await api.cancelRun(run.id));
    } catch (err) {
      setCancelError(errorMessage(err));
    } finally {
      setIsCancelling(false);
    }
  };

  return (
    <header className="run-header">
      <div className="run-title">
        <nav className="crumbs">
          <Link to="/">Pipelines</Link> / <Link to={`/pipelines/${run.pipeline.id}`}>{run.pipeline.name}</Link> /
        </nav>
        <h1>
          Run #{run.id} <span className="muted">v{run.version}</span>
        </h1>
        <StatusBadge status={run.status} testId="run-status" />
        <span className={`connection connection-${connection}`} data-testid="connection-state" data-state={connection}>
          {CONNECTION_LABEL[connection]}
        </span>
      </div>
      <dl className="run-times">
        <div>
          <dt>Team</dt>
          <dd>{run.team.name}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd data-testid="run-created">
            {formatDateTime(run.created_at)}
            {run.created_by ? ` by ${run.created_by}` : ""}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd data-testid="run-started">{formatDateTime(run.started_at)}</dd>
        </div>
        <div>
          <dt>Finished</dt>
          <dd data-testid="run-finished">{formatDateTime(run.finished_at)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd data-testid="run-duration">{formatDuration(secondsBetween(run.started_at, run.finished_at, now))}</dd>
        </div>
      </dl>
      <div className="run-actions">
        {!isFinal && (
          <button type="button" className="danger" onClick={cancel} disabled={isCancelling} data-testid="cancel-run">
            {isCancelling ? "Cancelling…" : "Cancel run"}
          </button>
        )}
      </div>
      {run.reason && (
        <p className="run-reason" data-testid="run-reason">
          {run.reason}
        </p>
      )}
      {cancelError && (
        <p className="error-box" role="alert">
          {cancelError}
        </p>
      )}
    </header>
  );
}

function StepRunDetails({ name, stepRun, onClose }: { name: string; stepRun: StepRun | undefined; onClose: () => void }) {
  const now = useNow(stepRun?.status === "running");
  return (
    <section className="step-details" data-testid="step-details" data-step={name}>
      <header>
        <h2>{name}</h2>
        {stepRun && <StatusBadge status={stepRun.status} testId="step-details-status" />}
        <button type="button" className="link-button close" onClick={onClose} aria-label="Close step">
          ✕
        </button>
      </header>
      {stepRun ? (
        <dl className="facts">
          <dt>Attempt</dt>
          <dd>
            {stepRun.attempt} of {stepRun.max_attempts}
          </dd>
          <dt>Queued</dt>
          <dd>{formatDateTime(stepRun.queued_at)}</dd>
          <dt>Started</dt>
          <dd>{formatDateTime(stepRun.started_at)}</dd>
          <dt>Finished</dt>
          <dd>{formatDateTime(stepRun.finished_at)}</dd>
          <dt>Duration</dt>
          <dd>{formatDuration(secondsBetween(stepRun.started_at, stepRun.finished_at, now))}</dd>
          {stepRun.node && (
            <>
              <dt>Node</dt>
              <dd>{stepRun.node}</dd>
            </>
          )}
          {stepRun.exit_code !== null && (
            <>
              <dt>Exit code</dt>
              <dd>{stepRun.exit_code}</dd>
            </>
          )}
          {stepRun.reason && (
            <>
              <dt>Reason</dt>
              <dd data-testid="step-details-reason">{stepRun.reason}</dd>
            </>
          )}
        </dl>
      ) : (
        <p className="muted">This step has not been scheduled.</p>
      )}
    </section>
  );
}

/** The steps as a list too: a way in for keyboards and screen readers. */
function StepPicker({
  run,
  stepRuns,
  onSelect,
}: {
  run: RunDetail;
  stepRuns: Map<string, StepRun>;
  onSelect: (step: string) => void;
}) {
  return (
    <section className="step-picker">
      <h2>Steps</h2>
      <p className="muted">Select a step to see its details and log.</p>
      <ul>
        {run.spec.steps.map((step) => {
          const sr = stepRuns.get(step.name);
          return (
            <li key={step.name}>
              <button type="button" className="step-pick" onClick={() => onSelect(step.name)} data-testid={`pick-${step.name}`}>
                <span>{step.name}</span>
                {sr && <StatusBadge status={sr.status} />}
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
