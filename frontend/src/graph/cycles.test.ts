import { describe, expect, it } from "vitest";
import type { StepSpec } from "../api/types";
import { describeLoop, downstreamMap, loopsInto, wouldCloseLoop } from "./cycles";

function step(name: string, extra: Partial<StepSpec> = {}): StepSpec {
  return { name, type: "python", image: "python:3.11-slim", command: ["true"], ...extra };
}

const chain = [
  step("a", { outputs: ["x"] }),
  step("b", { inputs: { x: "a.x" }, outputs: ["y"] }),
  step("c", { depends_on: ["b"] }),
];

describe("wouldCloseLoop", () => {
  it("names the loop an edge back to an ancestor would close, from the new edge's source", () => {
    expect(wouldCloseLoop(chain, "c", "a")).toEqual(["c", "a", "b", "c"]);
    expect(describeLoop(wouldCloseLoop(chain, "b", "a")!)).toBe("would close a loop: b -> a -> b");
  });

  it("accepts an edge that closes no loop, including a shortcut down the chain", () => {
    expect(wouldCloseLoop(chain, "a", "c")).toBeNull();
    expect(wouldCloseLoop([...chain, step("d")], "d", "a")).toBeNull();
  });

  it("refuses an edge from a step to itself", () => {
    expect(wouldCloseLoop(chain, "b", "b")).toEqual(["b", "b"]);
  });

  it("finds the shortest loop when there are several", () => {
    const steps = [step("a"), step("b", { depends_on: ["a"] }), step("c", { depends_on: ["b"] }), step("d", { depends_on: ["a", "c"] })];
    expect(wouldCloseLoop(steps, "d", "a")).toEqual(["d", "a", "d"]);
  });

  it("ignores references to missing steps and unwired inputs", () => {
    const steps = [step("a", { inputs: { q: "", z: "ghost.out" }, depends_on: ["nobody"] }), step("b", { depends_on: ["a"] })];
    expect(downstreamMap(steps)).toEqual(new Map([["a", ["b"]], ["b", []]]));
    expect(wouldCloseLoop(steps, "a", "b")).toBeNull();
  });
});

describe("loopsInto", () => {
  it("names, for every producer at once, the loop wouldCloseLoop names for it", () => {
    const steps: StepSpec[] = [
      { name: "a", type: "custom", image: "", command: [] },
      { name: "b", type: "custom", image: "", command: [], inputs: { x: "a.out" } },
      { name: "c", type: "custom", image: "", command: [], depends_on: ["b"] },
      { name: "d", type: "custom", image: "", command: [], depends_on: ["a", "c"] },
      { name: "e", type: "custom", image: "", command: [] },
    ];
    for (const target of ["a", "b", "c", "d", "e"]) {
      const loops = loopsInto(steps, target);
      for (const s of steps) expect(loops.get(s.name), `${s.name} -> ${target}`).toEqual(wouldCloseLoop(steps, s.name, target));
    }
    expect(loopsInto(steps, "a").get("d")).toEqual(["d", "a", "d"]);
  });
});
