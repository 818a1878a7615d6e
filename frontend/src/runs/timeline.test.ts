import { describe, expect, it } from "vitest";
import type { StepRun } from "../api/types";
import { tickLabel, timelineLayout, timelineTicks } from "./timeline";

const T0 = Date.parse("2026-12-01T12:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function sr(step: string, fields: Partial<StepRun>): StepRun {
  return {
    id: step.length,
    step,
    status: "pending",
    attempt: 1,
    max_attempts: 1,
    queued_at: null,
    started_at: null,
    finished_at: null,
    exit_code: null,
    reason: "",
    node: "",
    ...fields,
  };
}

function runs(...items: StepRun[]): Map<string, StepRun> {
  return new Map(items.map((s) => [s.step, s]));
}

describe("timelineLayout", () => {
  it("places finished bars from start to finish on a scale from the first queue time to the last finish", () => {
    const layout = timelineLayout(
      ["a", "b"],
      runs(
        sr("a", { status: "succeeded", queued_at: at(0), started_at: at(10), finished_at: at(50) }),
        sr("b", { status: "failed", queued_at: at(50), started_at: at(60), finished_at: at(100) }),
      ),
      T0 + 999_000,
    );
    expect(layout.startMs).toBe(T0);
    expect(layout.endMs).toBe(T0 + 100_000);
    expect(layout.rows[0]!.bar).toEqual({ left: 0.1, width: 0.4, isOpen: false });
    expect(layout.rows[0]!.wait).toEqual({ left: 0, width: 0.1 });
    expect(layout.rows[1]!.bar).toEqual({ left: 0.6, width: 0.4, isOpen: false });
    expect(layout.rows[1]!.durationS).toBe(40);
    expect(layout.rows.map((r) => r.status)).toEqual(["succeeded", "failed"]);
  });

  it("runs an open bar up to now and stretches the scale to now", () => {
    const layout = timelineLayout(["a"], runs(sr("a", { status: "running", queued_at: at(0), started_at: at(20) })), T0 + 40_000);
    expect(layout.endMs).toBe(T0 + 40_000);
    expect(layout.rows[0]!.bar).toEqual({ left: 0.5, width: 0.5, isOpen: true });
    expect(layout.rows[0]!.durationS).toBe(20);
  });

  it("gives a step that has not started no bar, and a queued one a wait up to now", () => {
    const layout = timelineLayout(
      ["done", "waiting", "pending", "unknown"],
      runs(
        sr("done", { status: "succeeded", queued_at: at(0), started_at: at(0), finished_at: at(10) }),
        sr("waiting", { status: "queued", queued_at: at(10) }),
        sr("pending", { status: "pending" }),
      ),
      T0 + 20_000,
    );
    const [, waiting, pending, unknown] = layout.rows;
    expect(waiting!.bar).toBeNull();
    expect(waiting!.wait).toEqual({ left: 0.5, width: 0.5 });
    expect(pending!.bar).toBeNull();
    expect(pending!.wait).toBeNull();
    expect(unknown!.status).toBe("none");
  });

  it("marks a later attempt at the start of its bar", () => {
    const layout = timelineLayout(
      ["a", "b"],
      runs(
        sr("a", { status: "running", attempt: 2, max_attempts: 3, started_at: at(5) }),
        sr("b", { status: "queued", attempt: 2, queued_at: at(0) }),
      ),
      T0 + 10_000,
    );
    expect(layout.rows[0]!.attemptMarker).toBe(2);
    expect(layout.rows[0]!.maxAttempts).toBe(3);
    expect(layout.rows[1]!.attemptMarker).toBeNull(); // no bar to mark yet
  });

  it("gives a run with no times a one-second scale from now", () => {
    const layout = timelineLayout(["a"], runs(sr("a", {})), T0);
    expect([layout.startMs, layout.endMs]).toEqual([T0, T0 + 1000]);
    expect(layout.rows[0]!.bar).toBeNull();
  });

  it("does not let a cancelled step without a finish grow with the clock", () => {
    const layout = timelineLayout(
      ["a", "b"],
      runs(
        sr("a", { status: "succeeded", started_at: at(0), finished_at: at(10) }),
        sr("b", { status: "cancelled", started_at: at(5) }),
      ),
      T0 + 1_000_000,
    );
    expect(layout.endMs).toBe(T0 + 10_000);
    expect(layout.rows[1]!.bar).toEqual({ left: 0.5, width: 0, isOpen: false });
  });
});

describe("timelineTicks", () => {
  it("picks a round spacing giving at most the asked number of ticks", () => {
    expect(timelineTicks(100_000).map((t) => t.label)).toEqual(["0s", "30s", "1m", "1m30s"]);
    expect(timelineTicks(100_000).map((t) => t.at)).toEqual([0, 0.3, 0.6, 0.9]);
    expect(timelineTicks(3_600_000).map((t) => t.label)).toEqual(["0s", "10m", "20m", "30m", "40m", "50m", "1h"]);
    expect(timelineTicks(1000).length).toBe(2);
  });

  it("labels long spans in hours and days", () => {
    expect(tickLabel(5400)).toBe("1h30m");
    expect(tickLabel(7200)).toBe("2h");
    expect(tickLabel(172_800)).toBe("2d");
  });
});
