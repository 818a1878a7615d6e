// The run's timeline (a Gantt chart) as pure layout: one row per step, a bar from when the step
// started to when it finished (or now, while it runs), the wait before it (queued -> started),
// and ticks on a readable time scale. Positions are fractions of the chart's width (0..1), so the
// view only multiplies by 100 to get CSS percentages.
import type { StepRun, StepRunStatus } from "../api/types";

export interface TimelineRow {
  step: string;
  status: StepRunStatus | "none";
  attempt: number;
  maxAttempts: number;
  /** The bar: from started_at to finished_at (or now); null when the step has not started. */
  bar: { left: number; width: number; isOpen: boolean } | null;
  /** Waiting for admission and start: from queued_at to started_at (or now); null when none. */
  wait: { left: number; width: number } | null;
  /** Seconds the bar spans (running: so far). */
  durationS: number | null;
  /** A later attempt starts at the bar's left edge: marks it with its number. */
  attemptMarker: number | null;
}

export interface TimelineTick {
  at: number;
  label: string;
}

export interface TimelineLayout {
  startMs: number;
  endMs: number;
  rows: TimelineRow[];
  ticks: TimelineTick[];
}

/** Tick spacings, in seconds, from which the one giving at most `maxTicks` ticks is chosen. */
const TICK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400];

function parse(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Lay out the timeline of `steps` (names in display order) from their step runs at `nowMs`.
 * The scale runs from the earliest queue or start time to the latest finish (or now, while a
 * step is still open); a run with no times yet gets a one-second scale starting now.
 */
export function timelineLayout(
  steps: readonly string[],
  stepRuns: ReadonlyMap<string, StepRun>,
  nowMs: number,
  maxTicks = 6,
): TimelineLayout {
  let startMs = Infinity;
  let endMs = -Infinity;
  for (const name of steps) {
    const sr = stepRuns.get(name);
    if (!sr) continue;
    const queued = parse(sr.queued_at);
    const started = parse(sr.started_at);
    const finished = parse(sr.finished_at);
    for (const t of [queued, started, finished]) {
      if (t !== null) {
        startMs = Math.min(startMs, t);
        endMs = Math.max(endMs, t);
      }
    }
    if ((started !== null || queued !== null) && finished === null && isOpen(sr.status)) endMs = Math.max(endMs, nowMs);
  }
  if (!Number.isFinite(startMs)) {
    startMs = nowMs;
    endMs = nowMs;
  }
  if (endMs - startMs < 1000) endMs = startMs + 1000;
  const span = endMs - startMs;
  const x = (t: number) => Math.min(1, Math.max(0, (t - startMs) / span));

  const rows = steps.map((name): TimelineRow => {
    const sr = stepRuns.get(name);
    if (!sr) return { step: name, status: "none", attempt: 1, maxAttempts: 1, bar: null, wait: null, durationS: null, attemptMarker: null };
    const queued = parse(sr.queued_at);
    const started = parse(sr.started_at);
    const finished = parse(sr.finished_at);
    const open = isOpen(sr.status);
    let bar: TimelineRow["bar"] = null;
    let durationS: number | null = null;
    if (started !== null) {
      const end = finished ?? (open ? nowMs : started);
      bar = { left: x(started), width: Math.max(0, x(end) - x(started)), isOpen: finished === null && open };
      durationS = Math.max(0, (end - started) / 1000);
    }
    let wait: TimelineRow["wait"] = null;
    if (queued !== null) {
      const waitEnd = started ?? finished ?? (open ? nowMs : queued);
      if (waitEnd > queued) wait = { left: x(queued), width: x(waitEnd) - x(queued) };
    }
    return {
      step: name,
      status: sr.status,
      attempt: sr.attempt,
      maxAttempts: sr.max_attempts,
      bar,
      wait,
      durationS,
      attemptMarker: sr.attempt > 1 && bar !== null ? sr.attempt : null,
    };
  });
  return { startMs, endMs, rows, ticks: timelineTicks(span, maxTicks) };
}

/** A step still on its way (its bar or wait grows with the clock). */
function isOpen(status: StepRunStatus): boolean {
  return status === "queued" || status === "admitted" || status === "running" || status === "preempted";
}

/** Ticks from 0 at a round spacing, at most `maxTicks` + 1 of them (0 included). */
export function timelineTicks(spanMs: number, maxTicks = 6): TimelineTick[] {
  const spanS = spanMs / 1000;
  const stepS = TICK_STEPS_S.find((s) => spanS / s <= maxTicks) ?? Math.ceil(spanS / maxTicks / 86_400) * 86_400;
  const ticks: TimelineTick[] = [];
  for (let t = 0; t <= spanS + 1e-9; t += stepS) ticks.push({ at: (t * 1000) / spanMs, label: tickLabel(t) });
  return ticks;
}

/** `0s`, `45s`, `2m`, `2m30s`, `1h`, `1h30m`, `2d`. */
export function tickLabel(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s / 60}m`;
  if (s < 86_400) {
    const m = Math.floor(s / 60);
    return m % 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m` : `${m / 60}h`;
  }
  return `${Math.round(s / 86_400)}d`;
}
