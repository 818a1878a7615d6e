import { describe, expect, it } from "vitest";
import type { PipelineSpec } from "../api/types";
import { HISTORY_LIMIT, historyReducer, initialHistory, isDirty } from "./history";

const spec = (...names: string[]): PipelineSpec => ({ steps: names.map((name) => ({ name, type: "python", image: "i", command: [] })) });

describe("historyReducer", () => {
  it("undoes and redoes edits in order", () => {
    const s0 = spec(), s1 = spec("a"), s2 = spec("a", "b");
    let h = initialHistory(s0);
    h = historyReducer(h, { type: "edit", spec: s1 });
    h = historyReducer(h, { type: "edit", spec: s2 });
    h = historyReducer(h, { type: "undo" });
    expect(h.present).toBe(s1);
    h = historyReducer(h, { type: "undo" });
    expect(h.present).toBe(s0);
    expect(historyReducer(h, { type: "undo" })).toBe(h);
    h = historyReducer(h, { type: "redo" });
    h = historyReducer(h, { type: "redo" });
    expect(h.present).toBe(s2);
    expect(historyReducer(h, { type: "redo" })).toBe(h);
  });

  it("drops the redo branch on a new edit", () => {
    let h = initialHistory(spec());
    h = historyReducer(h, { type: "edit", spec: spec("a") });
    h = historyReducer(h, { type: "undo" });
    h = historyReducer(h, { type: "edit", spec: spec("b") });
    expect(h.future).toEqual([]);
  });

  it("makes one history step of consecutive edits with the same key", () => {
    const s0 = spec();
    let h = initialHistory(s0);
    h = historyReducer(h, { type: "edit", spec: spec("t"), key: "image:a" });
    h = historyReducer(h, { type: "edit", spec: spec("tr"), key: "image:a" });
    h = historyReducer(h, { type: "edit", spec: spec("tra"), key: "image:a" });
    expect(h.past).toEqual([s0]);
    h = historyReducer(h, { type: "edit", spec: spec("x"), key: "cpu:a" });
    expect(h.past).toHaveLength(2);
  });

  it("is dirty until saved, and clean again when undone back to the saved spec", () => {
    let h = initialHistory(spec());
    expect(isDirty(h)).toBe(false);
    h = historyReducer(h, { type: "edit", spec: spec("a") });
    expect(isDirty(h)).toBe(true);
    h = historyReducer(h, { type: "undo" });
    expect(isDirty(h)).toBe(false);
    h = historyReducer(h, { type: "redo" });
    h = historyReducer(h, { type: "saved" });
    expect(isDirty(h)).toBe(false);
    expect(h.past).toHaveLength(1);
  });

  it("keeps at most HISTORY_LIMIT snapshots", () => {
    let h = initialHistory(spec());
    for (let i = 0; i < HISTORY_LIMIT + 20; i++) h = historyReducer(h, { type: "edit", spec: spec(`s${i}`) });
    expect(h.past).toHaveLength(HISTORY_LIMIT);
  });
});
