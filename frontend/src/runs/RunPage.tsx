// One run, live: the DAG coloured by step state, the run's status and times, cancel and retry
// from failure, the results (final steps' metrics), a timeline of the steps, and the selected
// step's details, attempts and log.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
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
import { hasEarlierAttempts, pickAttempt, shownAttempt, type PickedAttempt } from "./attempts";
import { LogPanel } from "./LogPanel";
import { metricsSteps } from "./results";
import { RunResults } from "./RunResults";
import { stepRunsByStep } from "./runEvents";
import { StatusBadge } from "./StatusBadge";
import { StepAttempts } from "./StepAttempts";
import { Timeline } from "./Timeline";
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
  const teamId = run?.team.id;
  const team = useApi((signal) => (teamId === undefined ? Promise.resolve(null) : api.team(teamId, signal)), [teamId]);
  const canEdit = team.data?.role === "editor" || team.data?.role === "admin";
  if (!run) {
    if (initial.error) return <ErrorMessage error={initial.error} onRetry={initial.reload} />;
    return <p className="muted page-pad">Loading run…</p>;
  }
  return <RunView key={run.id} run={run} connection={events.connection} canEdit={canEdit} onRunChanged={applyRun} />;
}

interface ViewProps {
  run: RunDetail;
  connection: ConnectionState;
  /** The editor role in the run's team: cancel and retry. */
  canEdit: boolean;
  onRunChanged: (run: RunDetail) => void;
}

function RunView({ run, connection, canEdit, onRunChanged }: ViewProps) {
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
  const stepNames = useMemo(() => run.spec.steps.map((s) => s.name), [run.spec]);
  const resultSteps = useMemo(() => metricsSteps(run.spec), [run.spec]);

  return (
    <div className="run-page">
      <RunHeader run={run} connection={connection} canEdit={canEdit} onRunChanged={onRunChanged} />
      <RunResults run={run} steps={resultSteps} stepRuns={stepRuns} />
      <div className="run-body">
        <div className="run-main">
          <DagView
            nodes={graph.nodes}
            edges={edges}
            selected={selectedStep ? selectedStep.name : null}
            onSelect={select}
            label={`Steps of run ${run.id}`}
          />
          <Timeline
            steps={stepNames}
            stepRuns={stepRuns}
            isLive={!RUN_FINAL.has(run.status)}
            selected={selectedStep ? selectedStep.name : null}
            onSelect={select}
          />
        </div>
        <aside className="side-panel" data-testid="side-panel">
          {selectedStep ? (
            <SelectedStep
              key={selectedStep.name}
              runId={run.id}
              step={selectedStep.name}
              stepRun={stepRuns.get(selectedStep.name)}
              onClose={() => select(null)}
            />
          ) : (
            <StepPicker run={run} stepRuns={stepRuns} onSelect={select} />
          )}
        </aside>
      </div>
    </div>
  );
}

function RunHeader({ run, connection, canEdit, onRunChanged }: ViewProps) {
  const isFinal = RUN_FINAL.has(run.status);
  const canRetry = run.status === "failed" || run.status === "cancelled";
  const now = useNow(!isFinal && run.started_at !== null);
  const [busy, setBusy] = useState<"cancel" | "retry" | null>(null);
  const [isConfirmingCancel, setIsConfirmingCancel] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  const act = async (kind: "cancel" | "retry") => {
    setBusy(kind);
    setActionError(null);
    setIsConfirmingCancel(false);
    try {
      onRunChanged(await (kind === "cancel" ? api.cancelRun(run.id) : api.retryRun(run.id)));
    } catch (err) {
      setActionError(errorMessage(err));
    } finally {
      setBusy(null);
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
        <span
          className={`connection connection-${connection}`}
          data-testid="connection-state"
          data-state={connection}
          role="status"
        >
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
      {canEdit && (
        <div className="run-actions">
          {!isFinal && !isConfirmingCancel && (
            <button
              type="button"
              className="danger"
              onClick={() => setIsConfirmingCancel(true)}
              disabled={busy !== null}
              data-testid="cancel-run"
            >
              {busy === "cancel" ? "Cancelling…" : "Cancel run"}
            </button>
          )}
          {!isFinal && isConfirmingCancel && (
            <CancelConfirm onConfirm={() => void act("cancel")} onKeep={() => setIsConfirmingCancel(false)} />
          )}
          {canRetry && (
            <button
              type="button"
              className="primary"
              onClick={() => void act("retry")}
              disabled={busy !== null}
              data-testid="retry-run"
              title="Run the failed, cancelled and skipped steps again; succeeded steps keep their outputs"
            >
              {busy === "retry" ? "Retrying…" : "Retry from failure"}
            </button>
          )}
        </div>
      )}
      {run.reason && (
        <p className="run-reason" data-testid="run-reason">
          {run.reason}
        </p>
      )}
      {actionError && (
        <p className="error-box" role="alert" data-testid="run-action-error">
          {actionError}
        </p>
      )}
    </header>
  );
}

/** The selected step: its facts, its attempts once it has had more than one, and its log. The
 * log is its latest attempt's, following a retry, unless the reader picked an earlier attempt in
 * the list or the log's picker (one pick for both, kept until another step is selected). */
function SelectedStep({
  runId,
  step,
  stepRun,
  onClose,
}: {
  runId: number;
  step: string;
  stepRun: StepRun | undefined;
  onClose: () => void;
}) {
  const latest = stepRun?.attempt ?? 1;
  const [picked, setPicked] = useState<PickedAttempt | null>(null);
  const attempt = shownAttempt(picked, step, latest);
  const pick = (n: number) => setPicked(pickAttempt(step, n, latest));
  return (
    <>
      <StepRunDetails name={step} stepRun={stepRun} onClose={onClose} />
      {stepRun && hasEarlierAttempts(latest) && (
        <StepAttempts runId={runId} step={step} stepRun={stepRun} shown={attempt} onPick={pick} />
      )}
      <LogPanel
        key={`${step}:${attempt}`}
        runId={runId}
        step={step}
        status={stepRun?.status}
        latestAttempt={latest}
        attempt={attempt}
        onPickAttempt={pick}
      />
    </>
  );
}

/** Cancelling stops running steps: ask first. Focus goes to the safe choice; Escape keeps the run. */
function CancelConfirm({ onConfirm, onKeep }: { onConfirm: () => void; onKeep: () => void }) {
  const keepRef = useRef<HTMLButtonElement>(null);
  useEffect(() => keepRef.current?.focus(), []);
  return (
    <div
      className="cancel-confirm"
      role="alertdialog"
      aria-label="Cancel this run?"
      data-testid="cancel-confirm"
      onKeyDown={(e) => e.key === "Escape" && onKeep()}
    >
      <span>Cancel this run? Running steps are stopped.</span>
      <button type="button" ref={keepRef} onClick={onKeep} data-testid="cancel-keep">
        Keep running
      </button>
      <button type="button" className="danger" onClick={onConfirm} data-testid="cancel-confirm-yes">
        Cancel run
      </button>
    </div>
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
