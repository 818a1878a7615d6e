import { describe, expect, it } from "vitest";
import type { RunDetail, StepRun, StepRunStatus, StepTransitionMessage } from "../api/types";
import {
  backoffDelay,
  initialRunEventsState,
  reduceRunEvents,
  runSocketUrl,
  stepRunsByStep,
  type RunEventsAction,
  type RunEventsState,
} from "./runEvents";

function stepRun(id: number, step: string, status: StepRunStatus = "pending", extra: Partial<StepRun> = {}): StepRun {
  return {
    id, step, status, attempt: 1, max_attempts: 1, queued_at: null, started_at: null,
    finished_at: null, exit_code: null, reason: "", node: "", ...extra,
  };
}

function runDetail(extra: Partial<RunDetail> = {}): RunDetail {
  return {
    id: 42,
    pipeline: { id: 1, name: "digits" },
    team: { id: 1, name: "vision" },
    version: 3,
    status: "queued",
    reason: "",
    created_by: "demo",
    created_at: "2024-05-01T10:00:00Z",
    started_at: null,
    finished_at: null,
    spec: { steps: [] },
    last_seq: 0,
    parameters: {},
    step_runs: [stepRun(1, "prepare", "queued"), stepRun(2, "train", "pending", { max_attempts: 3 })],
    ...extra,
  };
}

let clock = 0;
function event(seq: number, step: string, from: StepRunStatus, to: StepRunStatus, extra: Partial<StepTransitionMessage> = {}): StepTransitionMessage {
  clock += 1;
  return {
    type: "step.transition",
    run: 42,
    seq,
    step,
    step_run: step === "prepare" ? 1 : 2,
    attempt: 1,
    from,
    to,
    reason: "",
    exit_code: null,
    run_status: "running",
    at: `2024-05-01T10:00:${String(clock).padStart(2, "0")}Z`,
    ...extra,
  };
}

const snapshot = (seq: number, run: RunDetail = runDetail()) => ({ type: "snapshot", seq, run });
const msg = (message: unknown): RunEventsAction => ({ kind: "message", message });

function reduceAll(actions: RunEventsAction[], state: RunEventsState = initialRunEventsState): RunEventsState {
  return actions.reduce(reduceRunEvents, state);
}

function statusOf(state: RunEventsState, step: string): StepRunStatus | undefined {
  return stepRunsByStep(state.run).get(step)?.status;
}

describe("reduceRunEvents", () => {
  it("takes the run and the sequence number from the snapshot", () => {
    const state = reduceAll([msg(snapshot(5))]);
    expect(state.run?.id).toBe(42);
    expect(state.lastSeq).toBe(5);
  });

  it("applies events in order on top of the snapshot", () => {
    const state = reduceAll([
      msg(snapshot(5)),
      msg(event(6, "prepare", "queued", "admitted")),
      msg(event(7, "prepare", "admitted", "running")),
      msg(event(8, "prepare", "running", "succeeded", { exit_code: 0 })),
      msg(event(9, "train", "pending", "queued")),
    ]);
    expect(state.lastSeq).toBe(9);
    expect(statusOf(state, "prepare")).toBe("succeeded");
    expect(statusOf(state, "train")).toBe("queued");
    expect(state.run?.status).toBe("running");
    expect(stepRunsByStep(state.run).get("prepare")?.exit_code).toBe(0);
  });

  it("ignores an event it already applied, so nothing is counted twice", () => {
    const once = reduceAll([msg(snapshot(0)), msg(event(1, "prepare", "queued", "admitted"))]);
    const twice = reduceAll([msg(event(1, "prepare", "queued", "admitted"))], once);
    expect(twice.run).toBe(once.run);
    expect(twice.lastSeq).toBe(1);
    expect(twice.duplicates).toBe(1);
  });

  it("ignores events the snapshot already includes", () => {
    const state = reduceAll([msg(snapshot(10)), msg(event(9, "prepare", "queued", "admitted"))]);
    expect(statusOf(state, "prepare")).toBe("queued");
    expect(state.lastSeq).toBe(10);
  });

  it("reports a gap instead of applying an event that skipped ahead", () => {
    const state = reduceAll([msg(snapshot(3)), msg(event(5, "prepare", "queued", "admitted"))]);
    expect(state.gap).toEqual({ expected: 4, got: 5 });
    expect(state.lastSeq).toBe(3);
    expect(statusOf(state, "prepare")).toBe("queued");
  });

  it("fills the gap from the replay after resuming and clears it", () => {
    const state = reduceAll([
      msg(snapshot(3)),
      msg(event(5, "prepare", "admitted", "running")),
      { kind: "resumed" },
      msg(event(4, "prepare", "queued", "admitted")),
      msg(event(5, "prepare", "admitted", "running")),
    ]);
    expect(state.gap).toBeNull();
    expect(state.lastSeq).toBe(5);
    expect(statusOf(state, "prepare")).toBe("running");
  });

  it("accepts a jump that the server's replay itself makes after resuming", () => {
    const state = reduceAll([
      msg(snapshot(3)),
      { kind: "resumed" },
      msg(event(5, "prepare", "queued", "admitted")),
      msg(event(7, "prepare", "admitted", "running")),
    ]);
    expect(state.lastSeq).toBe(5);
    expect(state.gap).toEqual({ expected: 6, got: 7 });
  });

  it("ignores events that arrive before any snapshot", () => {
    const state = reduceAll([msg(event(1, "prepare", "queued", "admitted"))]);
    expect(state).toEqual(initialRunEventsState);
  });

  it("ignores an older snapshot and takes a newer one", () => {
    const newer = runDetail({ status: "running" });
    const older = runDetail({ status: "queued" });
    const state = reduceAll([msg(snapshot(8, newer)), msg(snapshot(4, older))]);
    expect(state.run?.status).toBe("running");
    const later = reduceAll([msg(snapshot(12, runDetail({ status: "failed" })))], state);
    expect(later.run?.status).toBe("failed");
    expect(later.lastSeq).toBe(12);
  });

  it("treats a fetched run detail as a snapshot at its last_seq", () => {
    const state = reduceAll([{ kind: "run", run: runDetail({ last_seq: 6 }) }, msg(event(7, "prepare", "queued", "admitted"))]);
    expect(state.lastSeq).toBe(7);
    expect(statusOf(state, "prepare")).toBe("admitted");
  });

  it("ignores malformed messages", () => {
    const start = reduceAll([msg(snapshot(1))]);
    for (const junk of [null, "text", 3, { type: "step.transition" }, { seq: 2 }, { type: "snapshot", seq: 9 }]) {
      expect(reduceRunEvents(start, msg(junk))).toBe(start);
    }
  });

  it("advances the sequence over event types it does not know", () => {
    const state = reduceAll([msg(snapshot(1)), msg({ type: "run.note", seq: 2 }), msg(event(3, "prepare", "queued", "admitted"))]);
    expect(state.lastSeq).toBe(3);
    expect(statusOf(state, "prepare")).toBe("admitted");
  });

  it("moves step timestamps like the server: running starts, final finishes, a retry resets", () => {
    const running = event(3, "train", "admitted", "running");
    const failure = event(4, "train", "running", "failed", { exit_code: 1, reason: "exit code 1" });
    const state = reduceAll([
      msg(snapshot(0)),
      msg(event(1, "train", "pending", "queued")),
      msg(event(2, "train", "queued", "admitted")),
      msg(running),
      msg(failure),
    ]);
    const failed = stepRunsByStep(state.run).get("train")!;
    expect(failed.started_at).toBe(running.at);
    expect(failed.finished_at).toBe(failure.at);
    expect(failed.reason).toBe("exit code 1");
    expect(failed.exit_code).toBe(1);

    const retried = reduceAll([msg(event(5, "train", "failed", "queued", { attempt: 2, reason: "retry 2 of 3" }))], state);
    const queued = stepRunsByStep(retried.run).get("train")!;
    expect(queued).toMatchObject({ status: "queued", attempt: 2, max_attempts: 3, started_at: null, finished_at: null, exit_code: null });
    expect(queued.queued_at).toBe(failed.queued_at);
  });

  it("takes the run status from each event and stamps the run's start and finish", () => {
    const state = reduceAll([
      msg(snapshot(0)),
      msg(event(1, "prepare", "queued", "admitted", { run_status: "running" })),
      msg(event(2, "prepare", "admitted", "cancelled", { run_status: "cancelled" })),
    ]);
    expect(state.run?.status).toBe("cancelled");
    expect(state.run?.started_at).not.toBeNull();
    expect(state.run?.finished_at).not.toBeNull();
  });

  it("adds a step run it has not seen yet", () => {
    const state = reduceAll([
      msg(snapshot(0, runDetail({ step_runs: [], spec: { steps: [{ name: "solo", type: "python", image: "x", command: [], retries: 2 }] } }))),
      msg({ ...event(1, "solo", "pending", "queued"), step_run: 99 }),
    ]);
    expect(stepRunsByStep(state.run).get("solo")).toMatchObject({ id: 99, status: "queued", max_attempts: 3 });
  });

  it("ignores events of another run", () => {
    const start = reduceAll([msg(snapshot(0))]);
    const state = reduceAll([msg({ ...event(1, "prepare", "queued", "admitted"), run: 7 })], start);
    expect(state.run).toBe(start.run);
    expect(state.lastSeq).toBe(1);
  });
});

describe("runSocketUrl", () => {
  it("resumes after the last sequence number, over wss on https", () => {
    expect(runSocketUrl({ protocol: "http:", host: "localhost:8000" }, 42, null)).toBe("ws://localhost:8000/ws/runs/42/");
    expect(runSocketUrl({ protocol: "https:", host: "trellis.example" }, 42, 17)).toBe("wss://trellis.example/ws/runs/42/?after=17");
  });
});

describe("backoffDelay", () => {
  it("doubles with each failure and stays under the cap", () => {
    expect(backoffDelay(0, 1)).toBe(500);
    expect(backoffDelay(1, 1)).toBe(1000);
    expect(backoffDelay(3, 1)).toBe(4000);
    expect(backoffDelay(20, 1)).toBe(15_000);
    expect(backoffDelay(3, 0)).toBe(2000);
  });
});
