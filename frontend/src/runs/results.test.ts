import { describe, expect, it } from "vitest";
import { metricsSteps, scalarValues } from "./results";

describe("metricsSteps", () => {
  it("names the final steps that declare a metrics output", () => {
    const spec = {
      steps: [
        { name: "train", type: "custom", image: "", command: [], outputs: ["model", "metrics"] },
        { name: "evaluate", type: "custom", image: "", command: [], inputs: { m: "train.model" }, outputs: ["metrics"] },
        { name: "report", type: "custom", image: "", command: [], depends_on: ["train"], outputs: ["html"] },
        { name: "audit", type: "custom", image: "", command: [], outputs: ["metrics"] },
      ],
    };
    expect(metricsSteps(spec)).toEqual(["evaluate", "audit"]);
  });
});

describe("scalarValues", () => {
  it("keeps numbers, strings and booleans, one level of nesting, and skips lists", () => {
    const doc = { accuracy: 0.973333, arch: "cnn", ok: true, per_class: [1, 2], best_metrics: { loss: 0.1, deeper: { x: 1 } }, n: 1200 };
    expect(scalarValues(doc)).toEqual([
      { key: "accuracy", value: "0.9733" },
      { key: "arch", value: "cnn" },
      { key: "ok", value: "true" },
      { key: "best_metrics.loss", value: "0.1" },
      { key: "n", value: "1200" },
    ]);
  });

  it("shows a bare scalar document and stops at the limit", () => {
    expect(scalarValues(0.5)).toEqual([{ key: "", value: "0.5" }]);
    expect(scalarValues({ a: 1, b: 2, c: 3 }, 2).map((v) => v.key)).toEqual(["a", "b"]);
    expect(scalarValues(null)).toEqual([]);
  });
});
