import { describe, expect, it } from "vitest";
import type { ResourceUsage } from "../api/types";
import { describeUsage, formatAmount, formOf, queueOf, quotaBody, quotaChanges, quotaFieldErrors, teamSocketUrl, usageBar } from "./teamQueue";

const usage = (over: Partial<ResourceUsage>): ResourceUsage => ({
  resource: "gpu",
  label: "gpu",
  used: 0,
  nominal: 4,
  borrowing_limit: null,
  borrowed: 0,
  ...over,
});

describe("teamSocketUrl", () => {
  it("follows the page's scheme", () => {
    expect(teamSocketUrl({ protocol: "https:", host: "t.example" }, 7)).toBe("wss://t.example/ws/teams/7/");
    expect(teamSocketUrl({ protocol: "http:", host: "localhost:8000" }, "3")).toBe("ws://localhost:8000/ws/teams/3/");
  });
});

describe("queueOf", () => {
  it("takes a queue message and ignores anything else", () => {
    const queue = { waiting: [], active: [], usage: [] };
    expect(queueOf({ type: "queue", queue })).toBe(queue);
    expect(queueOf({ type: "pong" })).toBeNull();
    expect(queueOf({ type: "queue", queue: { waiting: "x" } })).toBeNull();
    expect(queueOf(null)).toBeNull();
  });
});

describe("usageBar", () => {
  it("shows what is held within the nominal quota against it", () => {
    expect(usageBar(usage({ used: 2 }))).toEqual({ withinPct: 50, borrowedPct: 0, nominalPct: 100, limitPct: null });
  });

  it("shows borrowed use beyond the nominal mark, scaled to the borrowing limit", () => {
    expect(usageBar(usage({ used: 6, borrowed: 2, borrowing_limit: 4 }))).toEqual({
      withinPct: 50,
      borrowedPct: 25,
      nominalPct: 50,
      limitPct: 100,
    });
  });

  it("scales to the use when the team holds more than any mark", () => {
    const bar = usageBar(usage({ used: 8, borrowed: 4 }));
    expect(bar.withinPct + bar.borrowedPct).toBe(100);
    expect(bar.nominalPct).toBe(50);
  });

  it("has no marks without a quota and never divides by zero", () => {
    expect(usageBar(usage({ nominal: null }))).toEqual({ withinPct: 0, borrowedPct: 0, nominalPct: null, limitPct: null });
    expect(usageBar(usage({ nominal: 0 })).nominalPct).toBe(0);
  });
});

describe("amounts", () => {
  it("writes memory in GB from 1 GB up", () => {
    expect(formatAmount("memory_mb", 2048)).toBe("2 GB");
    expect(formatAmount("memory_mb", 512)).toBe("512 MB");
    expect(formatAmount("cpu", 1.5)).toBe("1.5");
  });

  it("describes borrowing", () => {
    expect(describeUsage(usage({ used: 6, borrowed: 2, borrowing_limit: 4 }))).toBe(
      "6 of 4 nominal, 2 borrowed, may borrow 4",
    );
  });
});

describe("the quota form", () => {
  it("round-trips a quota, blanks meaning null", () => {
    const quota = {
      cpu: 8,
      memory_mb: 1024,
      gpu: 2,
      borrow_cpu: null,
      borrow_memory_mb: 512,
      borrow_gpu: null,
      cohort: "lab",
      weight: null,
      gpu_classes: [{ gpu_class: "a100", gpu: 1, borrow_gpu: null }],
    };
    expect(quotaBody(formOf(quota))).toEqual(quota);
    expect(quotaBody({ ...formOf(quota), cohort: "" }).cohort).toBeNull();
  });

  it("sends text that is not a number as it is, for the server to name", () => {
    expect(quotaBody({ ...formOf(null), cpu: "lots" }).cpu).toBe("lots");
  });

  it("reads field errors, GPU class rows included", () => {
    expect(
      quotaFieldErrors({ cpu: ["Too small."], gpu_classes: { "1": { gpu_class: ["No such class."] } } }),
    ).toEqual({ cpu: "Too small.", "gpu_classes.1.gpu_class": "No such class." });
    expect(quotaFieldErrors({ gpu_classes: ["Listed twice."] })).toEqual({ gpu_classes: "Listed twice." });
  });
});

describe("quotaChanges", () => {
  const quota = {
    cpu: 2, memory_mb: 1024, gpu: 0, borrow_cpu: null, borrow_memory_mb: null, borrow_gpu: null,
    cohort: null, weight: null, gpu_classes: [{ gpu_class: "a100", gpu: 2, borrow_gpu: null }],
  };

  it("sends only the fields the admin changed, so a colleague's change to another stays", () => {
    const form = { ...formOf(quota), memory_mb: "2048" };
    expect(quotaChanges(formOf(quota), form)).toEqual({ memory_mb: 2048 });
  });

  it("sends nothing when nothing changed", () => {
    expect(quotaChanges(formOf(quota), formOf(quota))).toEqual({});
  });

  it("sends the GPU class rows whole when one changed, and a cleared limit as null", () => {
    const base = formOf({ ...quota, borrow_cpu: 4 });
    const form = { ...base, borrow_cpu: " ", gpu_classes: [{ gpu_class: "a100", gpu: "3", borrow_gpu: "" }] };
    expect(quotaChanges(base, form)).toEqual({
      borrow_cpu: null, gpu_classes: [{ gpu_class: "a100", gpu: 3, borrow_gpu: null }],
    });
  });
});
