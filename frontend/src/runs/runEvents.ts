// The run page's live state as a pure reducer over websocket messages (ws/runs/<id>/).
//
// The server numbers a run's events 1, 2, 3, ... without gaps. A snapshot carries the number of
// the last event it includes. So: apply a snapshot unless it is older than what we hold; apply
// an event only if it is the next one; ignore one we already applied (a replay after a
// reconnect); and report a gap (a missed event) instead of applying past it, so the socket can
// resume from the last applied number and get the missing ones replayed.
import type {
  RunDetail,
  RunMessage,
  RunStatus,
  StepRun,
  StepRunStatus,
  StepTransitionMessage,
} from "../api/types";
import { RUN_FINAL, STEP_FINAL } from "../api/types";

export interface RunEventsState {
  run: RunDetail | null;
  /** Sequence number of the last event applied (or included in the snapshot). */
  lastSeq: number;
  /** Set when an event skipped ahead; cleared by the next event applied. */
  gap: { expected: number; got: number } | null;
  /** Events ignored because they were already applied. */
  duplicates: number;
  /**
   * After resuming with `?after=<lastSeq>` the server replays from its own table, so whatever
   * comes first is what exists: a jump there is accepted rather than reported again.
   */
  trustNextAfter: number | null;
}

export type RunEventsAction =
  | { kind: "message"; message: unknown }
  /** A run detail fetched over HTTP (or returned by cancel): a snapshot at its `last_seq`. */
  | { kind: "run"; run: RunDetail }
  /** A new connection resumed with `?after=<lastSeq>`. */
  | { kind: "resumed" }
  | { kind: "reset" };

export const initialRunEventsState: RunEventsState = {
  run: null,
  lastSeq: 0,
  gap: null,
  duplicates: 0,
  trustNextAfter: null,
};

export function reduceRunEvents(state: RunEventsState, action: RunEventsAction): RunEventsState {
  switch (action.kind) {
    case "reset":
      return initialRunEventsState;
    case "resumed":
      return { ...state, gap: null, trustNextAfter: state.lastSeq };
    case "run":
      return applySnapshot(state, action.run.last_seq, action.run);
    case "message":
      return applyMessage(state, action.message);
  }
}

function applyMessage(state: RunEventsState, raw: unknown): RunEventsState {
  if (!isMessage(raw)) return state;
  if (raw.type === "snapshot") return applySnapshot(state, raw.seq, (raw as { run: RunDetail }).run);
  // Any other numbered message is an event in the run's sequence.
  if (state.run === null) return state; // nothing to apply it to; the snapshot will include it
  if (raw.seq <= state.lastSeq) return { ...state, duplicates: state.duplicates + 1 };
  if (raw.seq > state.lastSeq + 1 && state.trustNextAfter !== state.lastSeq) {
    return { ...state, gap: { expected: state.lastSeq + 1, got: raw.seq } };
  }
  const run =
    raw.type === "step.transition" && (raw as StepTransitionMessage).run === state.run.id
      ? applyTransition(state.run, raw as StepTransitionMessage)
      : state.run;
  return { ...state, run, lastSeq: raw.seq, gap: null, trustNextAfter: null };
}

function applySnapshot(state: RunEventsState, seq: number, run: RunDetail): RunEventsState {
  if (state.run !== null && (run.id !== state.run.id || seq < state.lastSeq)) return state;
  return { ...state, run, lastSeq: seq, gap: null };
}

function isMessage(raw: unknown): raw is RunMessage {
  if (typeof raw !== "object" || raw === null) return false;
  const m = raw as { type?: unknown; seq?: unknown; run?: unknown };
  if (typeof m.type !== "string" || typeof m.seq !== "number") return false;
  return m.type !== "snapshot" || (typeof m.run === "object" && m.run !== null);
}

/** The run after one step transition; timestamps move as the server's `_timestamps` does. */
export function applyTransition(run: RunDetail, event: StepTransitionMessage): RunDetail {
  const index = run.step_runs.findIndex((sr) => sr.id === event.step_run);
  const before: StepRun =
    index >= 0
      ? run.step_runs[index]!
      : {
          id: event.step_run,
          step: event.step,
          status: event.from,
          attempt: event.attempt,
          max_attempts: maxAttemptsOf(run, event.step),
          queued_at: null,
          started_at: null,
          finished_at: null,
          exit_code: null,
          reason: "",
          node: "",
        };
  const after: StepRun = {
    ...before,
    status: event.to,
    attempt: event.attempt,
    reason: event.reason ?? "",
    ...stepTimestamps(before, event.to, event.at),
  };
  if (event.exit_code !== null || event.to === "queued") after.exit_code = event.exit_code;
  const stepRuns = run.step_runs.slice();
  if (index >= 0) stepRuns[index] = after;
  else stepRuns.push(after);
  return { ...run, step_runs: stepRuns, ...runTimestamps(run, event.run_status ?? run.status, event.at) };
}

function stepTimestamps(sr: StepRun, to: StepRunStatus, at: string): Partial<StepRun> {
  if (to === "queued") return { queued_at: sr.queued_at ?? at, started_at: null, finished_at: null };
  if (to === "running") return { started_at: at, finished_at: null };
  if (STEP_FINAL.has(to) || to === "preempted") return { finished_at: at };
  return {};
}

function runTimestamps(run: RunDetail, status: RunStatus, at: string): Partial<RunDetail> {
  const out: Partial<RunDetail> = { status };
  if (status === "running" && !run.started_at) out.started_at = at;
  if (RUN_FINAL.has(status) && !run.finished_at) out.finished_at = at;
  return out;
}

function maxAttemptsOf(run: RunDetail, step: string): number {
  const known = run.step_runs.find((sr) => sr.step === step);
  if (known) return known.max_attempts;
  const spec = run.spec?.steps.find((s) => s.name === step);
  return (spec?.retries ?? 0) + 1;
}

/** The step run shown for each step: the latest attempt (one row per step on this server). */
export function stepRunsByStep(run: RunDetail | null): Map<string, StepRun> {
  const out = new Map<string, StepRun>();
  for (const sr of run?.step_runs ?? []) {
    const held = out.get(sr.step);
    if (!held || sr.attempt > held.attempt || (sr.attempt === held.attempt && sr.id > held.id)) out.set(sr.step, sr);
  }
  return out;
}

export function isRunFinal(run: RunDetail | null): boolean {
  return run !== null && RUN_FINAL.has(run.status);
}

/** `ws(s)://host/ws/runs/<id>/`, with `?after=<seq>` to resume after the last applied event. */
export function runSocketUrl(location: { protocol: string; host: string }, runId: number | string, after: number | null): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const base = `${scheme}//${location.host}/ws/runs/${encodeURIComponent(String(runId))}/`;
  return after === null ? base : `${base}?after=${after}`;
}

/** Reconnect delay after `failures` failed tries in a row: exponential, capped, with jitter. */
export function backoffDelay(failures: number, random: number = Math.random(), baseMs = 500, maxMs = 15_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures));
  return Math.round(ceiling * (0.5 + random / 2));
}
