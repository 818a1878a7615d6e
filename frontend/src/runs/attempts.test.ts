import { describe, expect, it } from "vitest";
import type { StepAttempt } from "../api/types";
import {
  attemptChoices,
  attemptRows,
  attemptsFetchKey,
  attemptSeconds,
  hasEarlierAttempts,
  isAnyGoing,
  pickAttempt,
  shownAttempt,
} from "./attempts";

describe("shownAttempt", () => {
  it("shows the latest attempt when nothing was picked", () => {
    expect(shownAttempt(null, "train", 3)).toBe(3);
  });

  it("shows the earlier attempt the reader picked for this step", () => {
    expect(shownAttempt({ step: "train", attempt: 1 }, "train", 3)).toBe(1);
  });

  it("ignores a pick made for another step", () => {
    expect(shownAttempt({ step: "prepare", attempt: 1 }, "train", 3)).toBe(3);
  });

  it("follows a retry when the reader had picked the then-latest attempt", () => {
    const picked = pickAttempt("train", 2, 2); // attempt 2 was the latest when picked
    expect(picked).toBeNull();
    expect(shownAttempt(picked, "train", 3)).toBe(3); // the step retried into attempt 3
  });

  it("keeps an earlier attempt the reader picked while the step retries again", () => {
    const picked = pickAttempt("train", 1, 2);
    expect(shownAttempt(picked, "train", 3)).toBe(1);
  });

  it("never shows an attempt the step has not had", () => {
    expect(shownAttempt({ step: "train", attempt: 5 }, "train", 2)).toBe(2);
    expect(shownAttempt({ step: "train", attempt: 0 }, "train", 2)).toBe(2);
  });
});

describe("attemptChoices", () => {
  it("offers no choice for a step on its first attempt", () => {
    expect(attemptChoices(1)).toEqual([]);
  });

  it("lists every attempt newest first, the latest marked", () => {
    expect(attemptChoices(3)).toEqual([
      { attempt: 3, label: "attempt 3 (latest)" },
      { attempt: 2, label: "attempt 2" },
      { attempt: 1, label: "attempt 1" },
    ]);
  });
});

function attempt(n: number, fields: Partial<StepAttempt> = {}): StepAttempt {
  return {
    attempt: n,
    status: "failed",
    queued_at: "2026-12-01T12:00:00Z",
    started_at: "2026-12-01T12:01:00Z",
    finished_at: "2026-12-01T12:02:30Z",
    node: null,
    exit_code: 1,
    reason: "exited with code 1",
    admissions: 1,
    ...fields,
  };
}

const NOW_MS = Date.parse("2026-12-01T12:10:00Z");

describe("attemptRows", () => {
  const failedTwiceThenRunning = [
    attempt(1),
    attempt(2, { exit_code: 137, reason: "OOMKilled: memory limit 1024 MiB" }),
    attempt(3, { status: "running", started_at: "2026-12-01T12:09:00Z", finished_at: null, exit_code: null, reason: "", node: "n1" }),
  ];

  it("lists the attempts newest first, the latest marked", () => {
    const rows = attemptRows(failedTwiceThenRunning, { shown: 3, latest: 3, nowMs: NOW_MS });
    expect(rows.map((r) => r.label)).toEqual(["Attempt 3 (latest)", "Attempt 2", "Attempt 1"]);
    expect(rows.map((r) => r.status)).toEqual(["running", "failed", "failed"]);
  });

  it("gives each failed attempt its own reason and exit code", () => {
    const rows = attemptRows(failedTwiceThenRunning, { shown: 3, latest: 3, nowMs: NOW_MS });
    expect(rows.map((r) => [r.reason, r.exitCode])).toEqual([
      ["", null],
      ["OOMKilled: memory limit 1024 MiB", "exit code 137"],
      ["exited with code 1", "exit code 1"],
    ]);
  });

  it("times a finished attempt from start to end and a running one until now", () => {
    const rows = attemptRows(failedTwiceThenRunning, { shown: 3, latest: 3, nowMs: NOW_MS });
    expect(rows.map((r) => r.seconds)).toEqual([60, 90, 90]);
  });

  it("marks the attempt whose log is shown, and only that one", () => {
    const rows = attemptRows(failedTwiceThenRunning, { shown: 1, latest: 3, nowMs: NOW_MS });
    expect(rows.map((r) => r.isShown)).toEqual([false, false, true]);
  });

  it("marks the latest attempt as the live updates tell it, even before the list has caught up", () => {
    const rows = attemptRows(failedTwiceThenRunning.slice(0, 2), { shown: 3, latest: 3, nowMs: NOW_MS });
    expect(rows.map((r) => r.label)).toEqual(["Attempt 2", "Attempt 1"]);
  });

  it("leaves out the exit code of a plain success", () => {
    const rows = attemptRows([attempt(1, { status: "succeeded", exit_code: 0, reason: "" })], { shown: 1, latest: 1, nowMs: NOW_MS });
    expect(rows.map((r) => r.exitCode)).toEqual([null]);
  });

  it("says how often a preempted attempt was admitted", () => {
    const rows = attemptRows(
      [attempt(1, { admissions: 2 }), attempt(2, { admissions: 3 }), attempt(3, { admissions: 1 })],
      { shown: 3, latest: 3, nowMs: NOW_MS },
    );
    expect(rows.map((r) => r.admissions)).toEqual([
      null,
      "admitted 3 times (after 2 preemptions)",
      "admitted 2 times (after a preemption)",
    ]);
  });

  it("keeps a reason that looks like HTML as it is, to be shown as text", () => {
    const rows = attemptRows([attempt(1, { reason: "<b>boom</b>" })], { shown: 1, latest: 1, nowMs: NOW_MS });
    expect(rows.map((r) => r.reason)).toEqual(["<b>boom</b>"]);
  });
});

describe("attemptSeconds", () => {
  it("is unknown for an attempt that never started", () => {
    expect(attemptSeconds({ status: "queued", started_at: null, finished_at: null }, NOW_MS)).toBeNull();
  });

  it("is unknown for a preempted attempt waiting in line again: it is not running", () => {
    expect(attemptSeconds({ status: "queued", started_at: "2026-12-01T12:01:00Z", finished_at: null }, NOW_MS)).toBeNull();
  });

  it("grows while a preempted attempt's job is still stopping", () => {
    expect(attemptSeconds({ status: "preempted", started_at: "2026-12-01T12:09:30Z", finished_at: null }, NOW_MS)).toBe(30);
  });
});

describe("isAnyGoing", () => {
  it("is true while an attempt runs, false once every attempt ended", () => {
    expect(isAnyGoing([attempt(1), attempt(2, { status: "running", finished_at: null })])).toBe(true);
    expect(isAnyGoing([attempt(1), attempt(2, { status: "queued", started_at: null, finished_at: null })])).toBe(false);
  });
});

describe("when the list shows and refetches", () => {
  it("shows only once a step has had more than one attempt", () => {
    expect(hasEarlierAttempts(1)).toBe(false);
    expect(hasEarlierAttempts(2)).toBe(true);
  });

  it("refetches on a new attempt or a new status, not on anything else", () => {
    const base = { attempt: 2, status: "queued" as const };
    expect(attemptsFetchKey(base)).toBe(attemptsFetchKey({ ...base }));
    expect(attemptsFetchKey(base)).not.toBe(attemptsFetchKey({ ...base, status: "admitted" }));
    expect(attemptsFetchKey(base)).not.toBe(attemptsFetchKey({ ...base, attempt: 3 }));
  });
});
